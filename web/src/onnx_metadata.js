// The metadata_props of an ONNX file (ModelProto field 14: repeated {key = 1, value = 2}),
// read straight from its protobuf bytes, so the model's config travels inside the file exactly
// as denseface.models.runners.OnnxRunner reads it (ONNX Runtime Web does not expose it).

const MODEL_METADATA_FIELD = 14;

function readVarint(bytes, pos) {
  let value = 0, scale = 1, b;
  do {
    if (pos >= bytes.length) throw new Error('truncated varint');
    b = bytes[pos++];
    value += (b & 0x7f) * scale;
    scale *= 128;
  } while (b & 0x80);
  return [value, pos];
}

/** Fields of one protobuf message: [fieldNumber, wireType, value] with value a number (varint)
 * or a Uint8Array view (length-delimited); fixed-width fields are skipped. */
function* fields(bytes) {
  let pos = 0;
  while (pos < bytes.length) {
    let tag;
    [tag, pos] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8), wire = tag % 8;
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(bytes, pos);
      yield [field, wire, v];
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(bytes, pos);
      if (pos + len > bytes.length) throw new Error('truncated field');
      yield [field, wire, bytes.subarray(pos, pos + len)];
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
}

/** {key: value} of an ONNX model's metadata_props. Throws on bytes that are not a protobuf. */
export function readOnnxMetadata(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out = {};
  for (const [field, wire, value] of fields(view)) {
    if (field !== MODEL_METADATA_FIELD || wire !== 2) continue;
    let key = '', val = '';
    for (const [f, w, v] of fields(value)) {
      if (w !== 2) continue;
      if (f === 1) key = decoder.decode(v);
      if (f === 2) val = decoder.decode(v);
    }
    out[key] = val;
  }
  return out;
}
