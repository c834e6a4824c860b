/**
 * A safe reader for PyTorch `.pt`/`.bin` files (torch.save since 1.6: a zip with `<name>/data.pkl` and one raw
 * storage per tensor under `<name>/data/<key>`). Python's unpickler runs whatever callables a pickle names, which
 * is how malicious checkpoints run code; this one is an interpreter for the pickle opcodes that only *describes*
 * values. It never calls anything: the few globals a tensor file needs are recognised by name and turned into
 * plain data, and any other global (os.system, builtins.eval, subprocess.Popen, …) stops the read at once,
 * before any later opcode is looked at.
 */
import path from 'node:path';
import { decodeFloats, WeightsFileError } from './safetensors.js';
import { ZipArchive } from './zip.js';

/** Storage classes torch pickles for float tensors, and the safetensors dtype of their bytes. */
const STORAGE_DTYPES: Record<string, 'F32' | 'F16' | 'BF16'> = {
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
};

/**
 * The allowlist: every global this reader accepts. Each is data-only here (a tensor rebuilt from a storage, an
 * ordered dict, the ParameterDict old TI files use for string_to_param); nothing is imported or called.
 */
const ALLOWED_GLOBALS = new Set([
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'collections.OrderedDict',
  'torch.nn.modules.container.ParameterDict',
  // A Module's state (the ParameterDict above) holds `_non_persistent_buffers_set = set()`; protocol 2 names
  // the builtin by its Python 2 module.
  'builtins.set',
  '__builtin__.set',
  ...Object.keys(STORAGE_DTYPES),
]);

/** 2^28 float32 values (1 GiB): far above any embedding or LoRA tensor. */
const MAX_TENSOR_ELEMENTS = 2 ** 28;

/** A float tensor read from the archive: shape and float32 values (strides applied, so always contiguous). */
export class TorchTensor {
  constructor(
    readonly dtype: 'F32' | 'F16' | 'BF16',
    readonly shape: number[],
    readonly data: Float32Array,
  ) {}
}

/** An instance of an allowed class (ParameterDict): its class name and the state BUILD gave it. */
export class PickledObject {
  state: unknown;
  constructor(readonly className: string) {}
}

/** A global the pickle named (only allowlisted ones are ever created). */
class Global {
  constructor(readonly name: string) {}
}

class StorageRef {
  constructor(
    readonly dtype: 'F32' | 'F16' | 'BF16',
    readonly key: string,
    readonly numel: number,
  ) {}
}

const MARK = Symbol('mark');

/** A pickle that references code, or a malformed one: message says which and what to do. */
export class UnsafePickleError extends WeightsFileError {}

/** Reads a torch.save zip archive (bytes in memory) into plain values: Map for dicts, arrays for lists and tuples. */
export function readTorchFile(bytes: Uint8Array, file: string): unknown {
  if (!ZipArchive.looksLikeZip(bytes)) {
    // Before torch 1.6 torch.save wrote a bare pickle stream followed by the storages; very old TI files.
    throw new WeightsFileError(
      `${file} is not a zip archive: it is either not a PyTorch file or uses the pre-1.6 torch.save format; convert it to .safetensors`,
      file,
    );
  }
  const zip = ZipArchive.parse(bytes, file);
  const pkl = [...zip.entries.keys()].find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pkl) throw new WeightsFileError(`${file}: the zip has no data.pkl, so it is not a torch.save archive`, file);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = zip.entries.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() : 'little';
  if (byteorder !== 'little')
    throw new WeightsFileError(`${file} was saved on a ${byteorder}-endian machine; only little-endian archives are read`, file);
  const storages = new Map<string, Uint8Array>();
  const loadStorage = (ref: StorageRef): Uint8Array => {
    let data = storages.get(ref.key);
    if (!data) {
      data = zip.read(`${prefix}data/${ref.key}`);
      storages.set(ref.key, data);
    }
    return data;
  };
  return unpickle(zip.read(pkl), file, loadStorage);
}

function refuse(file: string, name: string): never {
  const base = path.basename(file);
  throw new UnsafePickleError(`${base} needs code to load (it references ${name}); only tensor data is read — convert it to .safetensors`, file);
}

function rebuildTensor(args: unknown[], file: string, loadStorage: (ref: StorageRef) => Uint8Array): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef) || typeof offset !== 'number' || !Array.isArray(size) || !Array.isArray(stride)) {
    throw new WeightsFileError(`${file}: malformed tensor record in data.pkl`, file);
  }
  const shape = size as number[];
  const strides = stride as number[];
  if (
    !shape.every((d) => Number.isInteger(d) && d >= 0) ||
    !strides.every((d) => Number.isInteger(d) && d >= 0) ||
    shape.length !== strides.length ||
    !Number.isInteger(offset) ||
    offset < 0
  ) {
    throw new WeightsFileError(`${file}: malformed tensor size/stride in data.pkl`, file);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  // A crafted size with stride 0 could ask for any number of elements from a tiny storage.
  if (count > MAX_TENSOR_ELEMENTS)
    throw new WeightsFileError(`${file}: a tensor of ${count} elements is larger than this reader accepts (${MAX_TENSOR_ELEMENTS})`, file);
  const elemSize = storage.dtype === 'F32' ? 4 : 2;
  const raw = loadStorage(storage);
  if (raw.length % elemSize !== 0)
    throw new WeightsFileError(`${file}: storage ${storage.key} is ${raw.length} bytes, not a whole number of ${storage.dtype} elements`, file);
  const all = decodeFloats(raw, storage.dtype, `${file}: storage ${storage.key}`, file);
  const out = new Float32Array(count);
  // Walk the indices in row-major order and apply the strides (a saved tensor can be a transposed view).
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += index[d] * strides[d];
    if (at < 0 || at >= all.length) throw new WeightsFileError(`${file}: tensor reads past the end of storage ${storage.key}`, file);
    out[i] = all[at];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return new TorchTensor(storage.dtype, [...shape], out);
}

/** Calls an allowlisted global on its arguments, producing data only. */
function apply(fn: unknown, args: unknown, file: string, loadStorage: (ref: StorageRef) => Uint8Array): unknown {
  if (!(fn instanceof Global)) throw new WeightsFileError(`${file}: data.pkl calls something that is not a global`, file);
  const list = Array.isArray(args) ? args : [];
  switch (fn.name) {
    case 'torch._utils._rebuild_tensor_v2':
      return rebuildTensor(list, file, loadStorage);
    case 'torch._utils._rebuild_parameter':
      // (data, requires_grad, backward_hooks): a Parameter is its tensor for our purposes.
      return list[0];
    case 'collections.OrderedDict':
      return new Map(Array.isArray(list[0]) ? (list[0] as [unknown, unknown][]) : []);
    case 'torch.nn.modules.container.ParameterDict':
      return new PickledObject(fn.name);
    case 'builtins.set':
    case '__builtin__.set':
      return new Set(Array.isArray(list[0]) ? list[0] : []);
    default:
      // Storage classes are only ever named in persistent ids, never called.
      return refuse(file, fn.name);
  }
}

/**
 * The pickle virtual machine, restricted to the opcodes torch.save (protocol 2) and protocols up to 5 emit for
 * dicts, lists, tuples, strings, numbers and tensors. Opcode semantics as in CPython's pickletools.
 */
export function unpickle(
  data: Uint8Array,
  file: string,
  loadStorage: (ref: StorageRef) => Uint8Array = () => {
    throw new WeightsFileError(`${file}: the pickle references tensor storage but has no archive`, file);
  },
): unknown {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  const need = (n: number) => {
    if (at + n > data.length) throw new WeightsFileError(`${file}: data.pkl ends in the middle of an opcode`, file);
  };
  // Each reader checks that the bytes are there, then moves past them.
  const take = (n: number) => {
    need(n);
    at += n;
    return at - n;
  };
  const u8 = () => data[take(1)];
  const u16 = () => view.getUint16(take(2), true);
  const u32 = () => view.getUint32(take(4), true);
  const bytes = (n: number) => data.subarray(take(n), at);
  const line = () => {
    const end = data.indexOf(0x0a, at);
    if (end < 0) throw new WeightsFileError(`${file}: data.pkl ends inside a GLOBAL opcode`, file);
    const s = new TextDecoder().decode(data.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw new WeightsFileError(`${file}: data.pkl pops an empty stack`, file);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) throw new WeightsFileError(`${file}: data.pkl has no MARK where one is needed`, file);
    const items = stack.splice(k + 1);
    stack.pop();
    return items;
  };
  const top = () => {
    if (stack.length === 0) throw new WeightsFileError(`${file}: data.pkl uses an empty stack`, file);
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string) => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) refuse(file, full);
    stack.push(new Global(full));
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) throw new WeightsFileError(`${file}: data.pkl sets items on something that is not a dict`, file);
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new WeightsFileError(`${file}: data.pkl uses an unknown pickle protocol`, file);
        break;
      case 0x95: // FRAME (protocol 4+): just a length hint
        bytes(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw new WeightsFileError(`${file}: data.pkl ends with ${stack.length} values on the stack`, file);
        return stack[0];
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT (signed 32-bit)
        need(4);
        stack.push(view.getInt32(at, true));
        at += 4;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(decoder.decode(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decoder.decode(bytes(u8())));
        break;
      case 0x8d: {
        // BINUNICODE8
        need(8);
        const n = Number(view.getBigUint64(at, true));
        at += 8;
        stack.push(decoder.decode(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING (py2 str; latin-1 as Python 3 reads it with encoding='latin1')
        stack.push(new TextDecoder('latin1').decode(bytes(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(new TextDecoder('latin1').decode(bytes(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(new Uint8Array(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(new Uint8Array(bytes(u32())));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw new WeightsFileError(`${file}: data.pkl reads memo slot ${k} before writing it`, file);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n": checked against the allowlist before anything else happens
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw new WeightsFileError(`${file}: data.pkl has a malformed STACK_GLOBAL`, file);
        global(module, name);
        break;
      }
      case 0x51: {
        // BINPERSID: torch's storage reference ('storage', StorageClass, key, location, numel)
        const pid = pop();
        if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof Global) || !(pid[1].name in STORAGE_DTYPES)) {
          throw new WeightsFileError(`${file}: data.pkl has a persistent id that is not a float tensor storage`, file);
        }
        stack.push(new StorageRef(STORAGE_DTYPES[pid[1].name], String(pid[2]), Number(pid[4])));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(apply(pop(), args, file, loadStorage));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(apply(pop(), args, file, loadStorage));
        break;
      }
      case 0x62: {
        // BUILD: set an object's state; tensors and dicts ignore it (only hooks and flags go there)
        const state = pop();
        const obj = top();
        if (obj instanceof PickledObject) obj.state = state;
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        const list = top();
        if (!Array.isArray(list)) throw new WeightsFileError(`${file}: data.pkl appends to something that is not a list`, file);
        list.push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw new WeightsFileError(`${file}: data.pkl appends to something that is not a list`, file);
        list.push(...items);
        break;
      }
      default:
        throw new UnsafePickleError(
          `${path.basename(file)}: data.pkl uses pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at - 1}, which a tensor file does not need; convert it to .safetensors`,
          file,
        );
    }
  }
}
