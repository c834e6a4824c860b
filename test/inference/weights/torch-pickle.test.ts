import { describe, expect, it } from 'vitest';
import { PickledObject, readTorchFile, TorchTensor, unpickle, UnsafePickleError } from '../../../src/inference/weights/torch-pickle.js';
import { WeightsFileError } from '../../../src/inference/weights/safetensors.js';
import { a1111Embedding, f32Bytes, Op, PickleWriter, zip } from './torch-file.js';

function halfBytes(bits: number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(bits).buffer);
}

describe('readTorchFile', () => {
  it('reads an A1111 embedding: dicts, strings, ints, None and a float32 tensor', () => {
    const value = readTorchFile(
      a1111Embedding('EasyNegative', [
        [1, 2, 3, 4],
        [5, 6, 7, 8.5],
      ]),
      'EasyNegative.pt',
    ) as Map<string, unknown>;
    expect([...value.keys()]).toEqual(['string_to_token', 'string_to_param', 'name', 'step', 'sd_checkpoint', 'sd_checkpoint_name']);
    expect(value.get('string_to_token')).toEqual(new Map([['*', 265]]));
    expect(value.get('name')).toBe('EasyNegative');
    expect(value.get('step')).toBe(1500);
    expect(value.get('sd_checkpoint')).toBeNull();
    const tensor = (value.get('string_to_param') as Map<string, TorchTensor>).get('*')!;
    expect(tensor).toBeInstanceOf(TorchTensor);
    expect(tensor.shape).toEqual([2, 4]);
    expect(Array.from(tensor.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8.5]);
  });

  it('applies storage offset and strides (a transposed half-precision view), and reads deflated entries', () => {
    // Storage holds [[1, 2, 3], [4, 5, 6]] in fp16 after one leading element; the tensor is its transpose [3, 2].
    const storage = halfBytes([0x7c00, 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600]);
    const p = new PickleWriter().proto(2).tensor('HalfStorage', '7', 7, [3, 2], [1, 3], 1).op(Op.STOP);
    for (const deflate of [false, true]) {
      const t = readTorchFile(zip({ 'x/data.pkl': p.bytes(), 'x/data/7': storage }, deflate), 'x.pt') as TorchTensor;
      expect(t.dtype).toBe('F16');
      expect(t.shape).toEqual([3, 2]);
      expect(Array.from(t.data)).toEqual([1, 4, 2, 5, 3, 6]);
    }
  });

  it('reads the ParameterDict (with its set and OrderedDicts) that original TI files store in string_to_param', () => {
    const p = new PickleWriter().proto(2).op(Op.EMPTY_DICT).put().str('string_to_param');
    p.global('torch.nn.modules.container', 'ParameterDict').op(Op.EMPTY_TUPLE).op(Op.NEWOBJ).put();
    p.op(Op.EMPTY_DICT).put().op(Op.MARK);
    p.str('training').op(Op.NEWTRUE);
    p.str('_parameters').global('collections', 'OrderedDict').op(Op.EMPTY_TUPLE).op(Op.REDUCE).put();
    p.str('*').global('torch._utils', '_rebuild_parameter').op(Op.MARK).tensor('FloatStorage', '0', 2, [1, 2], [2, 1]).op(Op.NEWTRUE);
    p.global('collections', 'OrderedDict').op(Op.EMPTY_TUPLE).op(Op.REDUCE).put().op(Op.TUPLE).op(Op.REDUCE).op(Op.SETITEM);
    p.str('_non_persistent_buffers_set').global('__builtin__', 'set').op(Op.EMPTY_LIST).op(Op.TUPLE1).op(Op.REDUCE);
    p.op(Op.SETITEMS).op(Op.BUILD).op(Op.SETITEM).op(Op.STOP);
    const value = readTorchFile(zip({ 'old/data.pkl': p.bytes(), 'old/data/0': f32Bytes([0.5, -1]) }), 'old.pt') as Map<string, unknown>;
    const dict = value.get('string_to_param') as PickledObject;
    expect(dict).toBeInstanceOf(PickledObject);
    const params = (dict.state as Map<string, unknown>).get('_parameters') as Map<string, TorchTensor>;
    expect(Array.from(params.get('*')!.data)).toEqual([0.5, -1]);
  });

  it.each([
    ['GLOBAL os system', (p: PickleWriter) => p.global('os', 'system'), 'os.system'],
    ['GLOBAL builtins eval', (p: PickleWriter) => p.global('builtins', 'eval'), 'builtins.eval'],
    ['STACK_GLOBAL subprocess Popen', (p: PickleWriter) => p.str('subprocess').str('Popen').op(Op.STACK_GLOBAL), 'subprocess.Popen'],
    ['a disallowed torch global', (p: PickleWriter) => p.global('torch', 'load'), 'torch.load'],
  ])('refuses a pickle with %s + REDUCE before going further', (_what, callable, name) => {
    const p = new PickleWriter().proto(2);
    callable(p);
    // `touch /tmp/pwned` + REDUCE, then an opcode the reader rejects: the refusal must come first, at the global.
    p.str('touch /tmp/pwned').op(Op.TUPLE1).op(Op.REDUCE).op(0x69 /* INST */).op(Op.STOP);
    const file = zip({ 'archive/data.pkl': p.bytes() });
    expect(() => readTorchFile(file, '/embeddings/evil.pt')).toThrow(UnsafePickleError);
    expect(() => readTorchFile(file, '/embeddings/evil.pt')).toThrow(
      `evil.pt needs code to load (it references ${name}); only tensor data is read — convert it to .safetensors`,
    );
  });

  it('reuses memoised values (BINGET) and reads floats and long ints', () => {
    const p = new PickleWriter().proto(2).op(Op.EMPTY_LIST).put().str('shared');
    const slot = p.lastMemo;
    p.op(Op.APPEND).get(slot).op(Op.APPEND).op(Op.BINFLOAT).op(0x3f).op(0xf8).op(0).op(0).op(0).op(0).op(0).op(0).op(Op.APPEND);
    p.op(Op.LONG1).op(2).op(0x00).op(0xff).op(Op.APPEND).op(Op.STOP); // -256
    expect(unpickle(p.bytes(), 'x.pt')).toEqual(['shared', 'shared', 1.5, -256]);
  });

  it('refuses opcodes a tensor file does not need', () => {
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x69, 0x2e]), 'odd.pt')).toThrow(/odd\.pt: data\.pkl uses pickle opcode 0x69 at byte 2/);
  });

  it('refuses storage classes other than float ones', () => {
    const p = new PickleWriter().proto(2).tensor('LongStorage', '0', 1, [1], [1]).op(Op.STOP);
    expect(() => readTorchFile(zip({ 'a/data.pkl': p.bytes(), 'a/data/0': new Uint8Array(8) }), 'ints.pt')).toThrow(
      'ints.pt needs code to load (it references torch.LongStorage)',
    );
  });

  it('refuses a tensor that reads past its storage', () => {
    const p = new PickleWriter().proto(2).tensor('FloatStorage', '0', 4, [2, 4], [4, 1]).op(Op.STOP);
    expect(() => readTorchFile(zip({ 'a/data.pkl': p.bytes(), 'a/data/0': f32Bytes([1, 2, 3, 4]) }), 'short.pt')).toThrow(
      'short.pt: tensor reads past the end of storage 0',
    );
  });

  it('refuses a storage with a partial element and a tensor that would not fit in memory', () => {
    const odd = new PickleWriter().proto(2).tensor('FloatStorage', '0', 1, [1], [1]).op(Op.STOP);
    expect(() => readTorchFile(zip({ 'a/data.pkl': odd.bytes(), 'a/data/0': new Uint8Array(6) }), 'odd.pt')).toThrow(
      'odd.pt: storage 0 is 6 bytes, not a whole number of F32 elements',
    );
    const huge = new PickleWriter().proto(2).tensor('FloatStorage', '0', 1, [65536, 65536], [0, 0]).op(Op.STOP);
    expect(() => readTorchFile(zip({ 'a/data.pkl': huge.bytes(), 'a/data/0': new Uint8Array(4) }), 'huge.pt')).toThrow(
      'huge.pt: a tensor of 4294967296 elements is larger than this reader accepts',
    );
  });

  it.each([
    ['not a zip (pre-1.6 torch.save or not torch at all)', new Uint8Array([0x80, 2, 0x8a, 0x0a]), /is not a zip archive/],
    ['a zip without data.pkl', zip({ 'readme.txt': new Uint8Array(1) }), /has no data\.pkl/],
    ['a truncated zip', zip({ 'a/data.pkl': Uint8Array.from([0x80, 2, 0x4e, 0x2e]) }).subarray(0, 40), /no zip end-of-central-directory record/],
    ['a truncated pickle', zip({ 'a/data.pkl': Uint8Array.from([0x80, 2, 0x58, 9, 0]) }), /ends in the middle of an opcode/],
  ])('refuses %s with a clear error', (_what, bytes, message) => {
    expect(() => readTorchFile(bytes, 'x.pt')).toThrow(WeightsFileError);
    expect(() => readTorchFile(bytes, 'x.pt')).toThrow(message);
  });
});
