/** Discord's epoch (2015-01-01). */
const EPOCH = 1_420_070_400_000n;
let increment = 0n;

/**
 * Real-shaped snowflakes: discord.js's REST layer only treats 17–19 digit ids as major parameters (rate-limit
 * buckets), and the bot reads the creation time of an interaction from its id.
 */
export function snowflake(at = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(at) - EPOCH) << 22n) | (1n << 17n) | increment).toString();
}
