/**
 * Builds PyTorch-style `.pt` files in tests: a stored zip (as torch.save writes) around a pickle stream assembled
 * opcode by opcode (protocol 2, as torch.save defaults to), so the reader is tested without Python or torch.
 */
import { deflateRawSync } from 'node:zlib';

/** Pickle opcodes used below (CPython Lib/pickletools.py). */
export const Op = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  BINUNICODE: 0x58,
  BINPUT: 0x71,
  BINGET: 0x68,
  GLOBAL: 0x63,
  STACK_GLOBAL: 0x93,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  NEWOBJ: 0x81,
  BUILD: 0x62,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  APPEND: 0x61,
  BINFLOAT: 0x47,
  LONG1: 0x8a,
  SHORT_BINUNICODE: 0x8c,
} as const;

export class PickleWriter {
  private readonly out: number[] = [];
  private memo = 0;

  op(code: number): this {
    this.out.push(code);
    return this;
  }

  proto(version = 2): this {
    return this.op(Op.PROTO).op(version);
  }

  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(Op.BINUNICODE);
    this.u32(b.length);
    this.out.push(...b);
    return this.put();
  }

  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(Op.BININT1).op(n);
    if (n >= 0 && n < 65536)
      return this.op(Op.BININT2)
        .op(n & 0xff)
        .op(n >> 8);
    this.op(Op.BININT);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    this.out.push(...b);
    return this;
  }

  global(module: string, name: string): this {
    this.op(Op.GLOBAL);
    this.out.push(...new TextEncoder().encode(`${module}\n${name}\n`));
    return this.put();
  }

  /** BINPUT the top of the stack, as Python's pickler does after most values; returns the slot via `lastMemo`. */
  put(): this {
    this.lastMemo = this.memo;
    return this.op(Op.BINPUT).op(this.memo++);
  }

  lastMemo = -1;

  get(slot: number): this {
    return this.op(Op.BINGET).op(slot);
  }

  /** A tuple of ints, as torch pickles sizes and strides. */
  ints(values: number[]): this {
    if (values.length === 0) return this.op(Op.EMPTY_TUPLE);
    this.op(Op.MARK);
    for (const v of values) this.int(v);
    return this.op(Op.TUPLE).put();
  }

  /**
   * A tensor as torch.save writes it: _rebuild_tensor_v2((persistent storage id), offset, size, stride,
   * requires_grad, OrderedDict()) with the storage at data/<key>.
   */
  tensor(storageClass: string, key: string, numel: number, size: number[], stride: number[], offset = 0, requiresGrad = false): this {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.op(Op.MARK);
    this.op(Op.MARK).str('storage').global('torch', storageClass).str(key).str('cpu').int(numel).op(Op.TUPLE).put().op(Op.BINPERSID);
    this.int(offset)
      .ints(size)
      .ints(stride)
      .op(requiresGrad ? Op.NEWTRUE : Op.NEWFALSE);
    this.global('collections', 'OrderedDict').op(Op.EMPTY_TUPLE).op(Op.REDUCE).put();
    return this.op(Op.TUPLE).put().op(Op.REDUCE).put();
  }

  u32(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    this.out.push(...b);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** A zip archive of `entries` (stored, like torch.save; or deflated, like re-zipping tools). CRCs are left 0: the reader does not check them. */
export function zip(entries: Record<string, Uint8Array>, deflate = false): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(entries)) {
    const nameBytes = new TextEncoder().encode(name);
    const body = deflate ? new Uint8Array(deflateRawSync(data)) : data;
    const local = new Uint8Array(30 + nameBytes.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, deflate ? 8 : 0, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const c = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, deflate ? 8 : 0, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    c.set(nameBytes, 46);
    parts.push(local, body);
    central.push(c);
    offset += local.length + body.length;
  }
  const dirSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, central.length, true);
  ev.setUint16(10, central.length, true);
  ev.setUint32(12, dirSize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, eocd];
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/**
 * An A1111 embedding file: {string_to_token: {'*': 265}, string_to_param: {'*': tensor [n, width]}, name, step,
 * sd_checkpoint: None, sd_checkpoint_name: None}, as `Embedding.save` writes it.
 */
export function a1111Embedding(name: string, rows: number[][], archive = 'archive'): Uint8Array {
  const width = rows[0].length;
  const p = new PickleWriter().proto(2).op(Op.EMPTY_DICT).put().op(Op.MARK);
  p.str('string_to_token').op(Op.EMPTY_DICT).put().str('*').int(265).op(Op.SETITEM);
  p.str('string_to_param')
    .op(Op.EMPTY_DICT)
    .put()
    .str('*')
    .tensor('FloatStorage', '0', rows.length * width, [rows.length, width], [width, 1], 0, true)
    .op(Op.SETITEM);
  p.str('name').str(name);
  p.str('step').int(1500);
  p.str('sd_checkpoint').op(Op.NONE);
  p.str('sd_checkpoint_name').op(Op.NONE);
  p.op(Op.SETITEMS).op(Op.STOP);
  return zip({
    [`${archive}/data.pkl`]: p.bytes(),
    [`${archive}/byteorder`]: new TextEncoder().encode('little'),
    [`${archive}/data/0`]: f32Bytes(rows.flat()),
    [`${archive}/version`]: new TextEncoder().encode('3\n'),
  });
}
