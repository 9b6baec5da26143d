// node_modules/@msgpack/msgpack/dist.esm/utils/utf8.mjs
function utf8Count(str) {
  const strLength = str.length;
  let byteLength = 0;
  let pos = 0;
  while (pos < strLength) {
    let value = str.charCodeAt(pos++);
    if ((value & 4294967168) === 0) {
      byteLength++;
      continue;
    } else if ((value & 4294965248) === 0) {
      byteLength += 2;
    } else {
      if (value >= 55296 && value <= 56319) {
        if (pos < strLength) {
          const extra = str.charCodeAt(pos);
          if ((extra & 64512) === 56320) {
            ++pos;
            value = ((value & 1023) << 10) + (extra & 1023) + 65536;
          }
        }
      }
      if ((value & 4294901760) === 0) {
        byteLength += 3;
      } else {
        byteLength += 4;
      }
    }
  }
  return byteLength;
}
function utf8EncodeJs(str, output, outputOffset) {
  const strLength = str.length;
  let offset = outputOffset;
  let pos = 0;
  while (pos < strLength) {
    let value = str.charCodeAt(pos++);
    if ((value & 4294967168) === 0) {
      output[offset++] = value;
      continue;
    } else if ((value & 4294965248) === 0) {
      output[offset++] = value >> 6 & 31 | 192;
    } else {
      if (value >= 55296 && value <= 56319) {
        if (pos < strLength) {
          const extra = str.charCodeAt(pos);
          if ((extra & 64512) === 56320) {
            ++pos;
            value = ((value & 1023) << 10) + (extra & 1023) + 65536;
          }
        }
      }
      if ((value & 4294901760) === 0) {
        output[offset++] = value >> 12 & 15 | 224;
        output[offset++] = value >> 6 & 63 | 128;
      } else {
        output[offset++] = value >> 18 & 7 | 240;
        output[offset++] = value >> 12 & 63 | 128;
        output[offset++] = value >> 6 & 63 | 128;
      }
    }
    output[offset++] = value & 63 | 128;
  }
}
var sharedTextEncoder = new TextEncoder();
var TEXT_ENCODER_THRESHOLD = 50;
function utf8EncodeTE(str, output, outputOffset) {
  sharedTextEncoder.encodeInto(str, output.subarray(outputOffset));
}
function utf8Encode(str, output, outputOffset) {
  if (str.length > TEXT_ENCODER_THRESHOLD) {
    utf8EncodeTE(str, output, outputOffset);
  } else {
    utf8EncodeJs(str, output, outputOffset);
  }
}
var CHUNK_SIZE = 4096;
function utf8DecodeJs(bytes, inputOffset, byteLength) {
  let offset = inputOffset;
  const end = offset + byteLength;
  const units = [];
  let result = "";
  while (offset < end) {
    const byte1 = bytes[offset++];
    if ((byte1 & 128) === 0) {
      units.push(byte1);
    } else if ((byte1 & 224) === 192) {
      const byte2 = bytes[offset++] & 63;
      units.push((byte1 & 31) << 6 | byte2);
    } else if ((byte1 & 240) === 224) {
      const byte2 = bytes[offset++] & 63;
      const byte3 = bytes[offset++] & 63;
      units.push((byte1 & 31) << 12 | byte2 << 6 | byte3);
    } else if ((byte1 & 248) === 240) {
      const byte2 = bytes[offset++] & 63;
      const byte3 = bytes[offset++] & 63;
      const byte4 = bytes[offset++] & 63;
      let unit = (byte1 & 7) << 18 | byte2 << 12 | byte3 << 6 | byte4;
      if (unit > 65535) {
        unit -= 65536;
        units.push(unit >>> 10 & 1023 | 55296);
        unit = 56320 | unit & 1023;
      }
      units.push(unit);
    } else {
      units.push(byte1);
    }
    if (units.length >= CHUNK_SIZE) {
      result += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  if (units.length > 0) {
    result += String.fromCharCode(...units);
  }
  return result;
}
var sharedTextDecoder = new TextDecoder();
var TEXT_DECODER_THRESHOLD = 200;
function utf8DecodeTD(bytes, inputOffset, byteLength) {
  const stringBytes = bytes.subarray(inputOffset, inputOffset + byteLength);
  return sharedTextDecoder.decode(stringBytes);
}
function utf8Decode(bytes, inputOffset, byteLength) {
  if (byteLength > TEXT_DECODER_THRESHOLD) {
    return utf8DecodeTD(bytes, inputOffset, byteLength);
  } else {
    return utf8DecodeJs(bytes, inputOffset, byteLength);
  }
}

// node_modules/@msgpack/msgpack/dist.esm/ExtData.mjs
var ExtData = class {
  type;
  data;
  constructor(type, data) {
    this.type = type;
    this.data = data;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/DecodeError.mjs
var DecodeError = class _DecodeError extends Error {
  constructor(message) {
    super(message);
    const proto = Object.create(_DecodeError.prototype);
    Object.setPrototypeOf(this, proto);
    Object.defineProperty(this, "name", {
      configurable: true,
      enumerable: false,
      value: _DecodeError.name
    });
  }
};

// node_modules/@msgpack/msgpack/dist.esm/utils/int.mjs
var UINT32_MAX = 4294967295;
function setUint64(view, offset, value) {
  const high = value / 4294967296;
  const low = value;
  view.setUint32(offset, high);
  view.setUint32(offset + 4, low);
}
function setInt64(view, offset, value) {
  const high = Math.floor(value / 4294967296);
  const low = value;
  view.setUint32(offset, high);
  view.setUint32(offset + 4, low);
}
function getInt64(view, offset) {
  const high = view.getInt32(offset);
  const low = view.getUint32(offset + 4);
  return high * 4294967296 + low;
}
function getUint64(view, offset) {
  const high = view.getUint32(offset);
  const low = view.getUint32(offset + 4);
  return high * 4294967296 + low;
}

// node_modules/@msgpack/msgpack/dist.esm/timestamp.mjs
var EXT_TIMESTAMP = -1;
var TIMESTAMP32_MAX_SEC = 4294967296 - 1;
var TIMESTAMP64_MAX_SEC = 17179869184 - 1;
function encodeTimeSpecToTimestamp({ sec, nsec }) {
  if (sec >= 0 && nsec >= 0 && sec <= TIMESTAMP64_MAX_SEC) {
    if (nsec === 0 && sec <= TIMESTAMP32_MAX_SEC) {
      const rv = new Uint8Array(4);
      const view = new DataView(rv.buffer);
      view.setUint32(0, sec);
      return rv;
    } else {
      const secHigh = sec / 4294967296;
      const secLow = sec & 4294967295;
      const rv = new Uint8Array(8);
      const view = new DataView(rv.buffer);
      view.setUint32(0, nsec << 2 | secHigh & 3);
      view.setUint32(4, secLow);
      return rv;
    }
  } else {
    const rv = new Uint8Array(12);
    const view = new DataView(rv.buffer);
    view.setUint32(0, nsec);
    setInt64(view, 4, sec);
    return rv;
  }
}
function encodeDateToTimeSpec(date) {
  const msec = date.getTime();
  const sec = Math.floor(msec / 1e3);
  const nsec = (msec - sec * 1e3) * 1e6;
  const nsecInSec = Math.floor(nsec / 1e9);
  return {
    sec: sec + nsecInSec,
    nsec: nsec - nsecInSec * 1e9
  };
}
function encodeTimestampExtension(object) {
  if (object instanceof Date) {
    const timeSpec = encodeDateToTimeSpec(object);
    return encodeTimeSpecToTimestamp(timeSpec);
  } else {
    return null;
  }
}
function decodeTimestampToTimeSpec(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (data.byteLength) {
    case 4: {
      const sec = view.getUint32(0);
      const nsec = 0;
      return { sec, nsec };
    }
    case 8: {
      const nsec30AndSecHigh2 = view.getUint32(0);
      const secLow32 = view.getUint32(4);
      const sec = (nsec30AndSecHigh2 & 3) * 4294967296 + secLow32;
      const nsec = nsec30AndSecHigh2 >>> 2;
      return { sec, nsec };
    }
    case 12: {
      const sec = getInt64(view, 4);
      const nsec = view.getUint32(0);
      return { sec, nsec };
    }
    default:
      throw new DecodeError(`Unrecognized data size for timestamp (expected 4, 8, or 12): ${data.length}`);
  }
}
function decodeTimestampExtension(data) {
  const timeSpec = decodeTimestampToTimeSpec(data);
  return new Date(timeSpec.sec * 1e3 + timeSpec.nsec / 1e6);
}
var timestampExtension = {
  type: EXT_TIMESTAMP,
  encode: encodeTimestampExtension,
  decode: decodeTimestampExtension
};

// node_modules/@msgpack/msgpack/dist.esm/ExtensionCodec.mjs
var ExtensionCodec = class _ExtensionCodec {
  static defaultCodec = new _ExtensionCodec();
  // ensures ExtensionCodecType<X> matches ExtensionCodec<X>
  // this will make type errors a lot more clear
  // eslint-disable-next-line @typescript-eslint/naming-convention
  __brand;
  // built-in extensions
  builtInEncoders = [];
  builtInDecoders = [];
  // custom extensions
  encoders = [];
  decoders = [];
  constructor() {
    this.register(timestampExtension);
  }
  register({ type, encode: encode2, decode: decode2 }) {
    if (type >= 0) {
      this.encoders[type] = encode2;
      this.decoders[type] = decode2;
    } else {
      const index = -1 - type;
      this.builtInEncoders[index] = encode2;
      this.builtInDecoders[index] = decode2;
    }
  }
  tryToEncode(object, context) {
    for (let i = 0; i < this.builtInEncoders.length; i++) {
      const encodeExt = this.builtInEncoders[i];
      if (encodeExt != null) {
        const data = encodeExt(object, context);
        if (data != null) {
          const type = -1 - i;
          return new ExtData(type, data);
        }
      }
    }
    for (let i = 0; i < this.encoders.length; i++) {
      const encodeExt = this.encoders[i];
      if (encodeExt != null) {
        const data = encodeExt(object, context);
        if (data != null) {
          const type = i;
          return new ExtData(type, data);
        }
      }
    }
    if (object instanceof ExtData) {
      return object;
    }
    return null;
  }
  decode(data, type, context) {
    const decodeExt = type < 0 ? this.builtInDecoders[-1 - type] : this.decoders[type];
    if (decodeExt) {
      return decodeExt(data, type, context);
    } else {
      return new ExtData(type, data);
    }
  }
};

// node_modules/@msgpack/msgpack/dist.esm/utils/typedArrays.mjs
function isArrayBufferLike(buffer) {
  return buffer instanceof ArrayBuffer || typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
}
function ensureUint8Array(buffer) {
  if (buffer instanceof Uint8Array) {
    return buffer;
  } else if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } else if (isArrayBufferLike(buffer)) {
    return new Uint8Array(buffer);
  } else {
    return Uint8Array.from(buffer);
  }
}

// node_modules/@msgpack/msgpack/dist.esm/Encoder.mjs
var DEFAULT_MAX_DEPTH = 100;
var DEFAULT_INITIAL_BUFFER_SIZE = 2048;
var Encoder = class _Encoder {
  extensionCodec;
  context;
  useBigInt64;
  maxDepth;
  initialBufferSize;
  sortKeys;
  forceFloat32;
  ignoreUndefined;
  forceIntegerToFloat;
  pos;
  view;
  bytes;
  entered = false;
  constructor(options) {
    this.extensionCodec = options?.extensionCodec ?? ExtensionCodec.defaultCodec;
    this.context = options?.context;
    this.useBigInt64 = options?.useBigInt64 ?? false;
    this.maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.initialBufferSize = options?.initialBufferSize ?? DEFAULT_INITIAL_BUFFER_SIZE;
    this.sortKeys = options?.sortKeys ?? false;
    this.forceFloat32 = options?.forceFloat32 ?? false;
    this.ignoreUndefined = options?.ignoreUndefined ?? false;
    this.forceIntegerToFloat = options?.forceIntegerToFloat ?? false;
    this.pos = 0;
    this.view = new DataView(new ArrayBuffer(this.initialBufferSize));
    this.bytes = new Uint8Array(this.view.buffer);
  }
  clone() {
    return new _Encoder({
      extensionCodec: this.extensionCodec,
      context: this.context,
      useBigInt64: this.useBigInt64,
      maxDepth: this.maxDepth,
      initialBufferSize: this.initialBufferSize,
      sortKeys: this.sortKeys,
      forceFloat32: this.forceFloat32,
      ignoreUndefined: this.ignoreUndefined,
      forceIntegerToFloat: this.forceIntegerToFloat
    });
  }
  reinitializeState() {
    this.pos = 0;
  }
  /**
   * This is almost equivalent to {@link Encoder#encode}, but it returns an reference of the encoder's internal buffer and thus much faster than {@link Encoder#encode}.
   *
   * @returns Encodes the object and returns a shared reference the encoder's internal buffer.
   */
  encodeSharedRef(object) {
    if (this.entered) {
      const instance = this.clone();
      return instance.encodeSharedRef(object);
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.doEncode(object, 1);
      return this.bytes.subarray(0, this.pos);
    } finally {
      this.entered = false;
    }
  }
  /**
   * @returns Encodes the object and returns a copy of the encoder's internal buffer.
   */
  encode(object) {
    if (this.entered) {
      const instance = this.clone();
      return instance.encode(object);
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.doEncode(object, 1);
      return this.bytes.slice(0, this.pos);
    } finally {
      this.entered = false;
    }
  }
  doEncode(object, depth) {
    if (depth > this.maxDepth) {
      throw new Error(`Too deep objects in depth ${depth}`);
    }
    if (object == null) {
      this.encodeNil();
    } else if (typeof object === "boolean") {
      this.encodeBoolean(object);
    } else if (typeof object === "number") {
      if (!this.forceIntegerToFloat) {
        this.encodeNumber(object);
      } else {
        this.encodeNumberAsFloat(object);
      }
    } else if (typeof object === "string") {
      this.encodeString(object);
    } else if (this.useBigInt64 && typeof object === "bigint") {
      this.encodeBigInt64(object);
    } else {
      this.encodeObject(object, depth);
    }
  }
  ensureBufferSizeToWrite(sizeToWrite) {
    const requiredSize = this.pos + sizeToWrite;
    if (this.view.byteLength < requiredSize) {
      this.resizeBuffer(requiredSize * 2);
    }
  }
  resizeBuffer(newSize) {
    const newBuffer = new ArrayBuffer(newSize);
    const newBytes = new Uint8Array(newBuffer);
    const newView = new DataView(newBuffer);
    newBytes.set(this.bytes);
    this.view = newView;
    this.bytes = newBytes;
  }
  encodeNil() {
    this.writeU8(192);
  }
  encodeBoolean(object) {
    if (object === false) {
      this.writeU8(194);
    } else {
      this.writeU8(195);
    }
  }
  encodeNumber(object) {
    if (!this.forceIntegerToFloat && Number.isSafeInteger(object)) {
      if (object >= 0) {
        if (object < 128) {
          this.writeU8(object);
        } else if (object < 256) {
          this.writeU8(204);
          this.writeU8(object);
        } else if (object < 65536) {
          this.writeU8(205);
          this.writeU16(object);
        } else if (object < 4294967296) {
          this.writeU8(206);
          this.writeU32(object);
        } else if (!this.useBigInt64) {
          this.writeU8(207);
          this.writeU64(object);
        } else {
          this.encodeNumberAsFloat(object);
        }
      } else {
        if (object >= -32) {
          this.writeU8(224 | object + 32);
        } else if (object >= -128) {
          this.writeU8(208);
          this.writeI8(object);
        } else if (object >= -32768) {
          this.writeU8(209);
          this.writeI16(object);
        } else if (object >= -2147483648) {
          this.writeU8(210);
          this.writeI32(object);
        } else if (!this.useBigInt64) {
          this.writeU8(211);
          this.writeI64(object);
        } else {
          this.encodeNumberAsFloat(object);
        }
      }
    } else {
      this.encodeNumberAsFloat(object);
    }
  }
  encodeNumberAsFloat(object) {
    if (this.forceFloat32) {
      this.writeU8(202);
      this.writeF32(object);
    } else {
      this.writeU8(203);
      this.writeF64(object);
    }
  }
  encodeBigInt64(object) {
    if (object >= BigInt(0)) {
      this.writeU8(207);
      this.writeBigUint64(object);
    } else {
      this.writeU8(211);
      this.writeBigInt64(object);
    }
  }
  writeStringHeader(byteLength) {
    if (byteLength < 32) {
      this.writeU8(160 + byteLength);
    } else if (byteLength < 256) {
      this.writeU8(217);
      this.writeU8(byteLength);
    } else if (byteLength < 65536) {
      this.writeU8(218);
      this.writeU16(byteLength);
    } else if (byteLength < 4294967296) {
      this.writeU8(219);
      this.writeU32(byteLength);
    } else {
      throw new Error(`Too long string: ${byteLength} bytes in UTF-8`);
    }
  }
  encodeString(object) {
    const maxHeaderSize = 1 + 4;
    const byteLength = utf8Count(object);
    this.ensureBufferSizeToWrite(maxHeaderSize + byteLength);
    this.writeStringHeader(byteLength);
    utf8Encode(object, this.bytes, this.pos);
    this.pos += byteLength;
  }
  encodeObject(object, depth) {
    const ext = this.extensionCodec.tryToEncode(object, this.context);
    if (ext != null) {
      this.encodeExtension(ext);
    } else if (Array.isArray(object)) {
      this.encodeArray(object, depth);
    } else if (ArrayBuffer.isView(object)) {
      this.encodeBinary(object);
    } else if (typeof object === "object") {
      this.encodeMap(object, depth);
    } else {
      throw new Error(`Unrecognized object: ${Object.prototype.toString.apply(object)}`);
    }
  }
  encodeBinary(object) {
    const size = object.byteLength;
    if (size < 256) {
      this.writeU8(196);
      this.writeU8(size);
    } else if (size < 65536) {
      this.writeU8(197);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(198);
      this.writeU32(size);
    } else {
      throw new Error(`Too large binary: ${size}`);
    }
    const bytes = ensureUint8Array(object);
    this.writeU8a(bytes);
  }
  encodeArray(object, depth) {
    const size = object.length;
    if (size < 16) {
      this.writeU8(144 + size);
    } else if (size < 65536) {
      this.writeU8(220);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(221);
      this.writeU32(size);
    } else {
      throw new Error(`Too large array: ${size}`);
    }
    for (const item of object) {
      this.doEncode(item, depth + 1);
    }
  }
  countWithoutUndefined(object, keys) {
    let count = 0;
    for (const key of keys) {
      if (object[key] !== void 0) {
        count++;
      }
    }
    return count;
  }
  encodeMap(object, depth) {
    const keys = Object.keys(object);
    if (this.sortKeys) {
      keys.sort();
    }
    const size = this.ignoreUndefined ? this.countWithoutUndefined(object, keys) : keys.length;
    if (size < 16) {
      this.writeU8(128 + size);
    } else if (size < 65536) {
      this.writeU8(222);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(223);
      this.writeU32(size);
    } else {
      throw new Error(`Too large map object: ${size}`);
    }
    for (const key of keys) {
      const value = object[key];
      if (!(this.ignoreUndefined && value === void 0)) {
        this.encodeString(key);
        this.doEncode(value, depth + 1);
      }
    }
  }
  encodeExtension(ext) {
    if (typeof ext.data === "function") {
      const data = ext.data(this.pos + 6);
      const size2 = data.length;
      if (size2 >= 4294967296) {
        throw new Error(`Too large extension object: ${size2}`);
      }
      this.writeU8(201);
      this.writeU32(size2);
      this.writeI8(ext.type);
      this.writeU8a(data);
      return;
    }
    const size = ext.data.length;
    if (size === 1) {
      this.writeU8(212);
    } else if (size === 2) {
      this.writeU8(213);
    } else if (size === 4) {
      this.writeU8(214);
    } else if (size === 8) {
      this.writeU8(215);
    } else if (size === 16) {
      this.writeU8(216);
    } else if (size < 256) {
      this.writeU8(199);
      this.writeU8(size);
    } else if (size < 65536) {
      this.writeU8(200);
      this.writeU16(size);
    } else if (size < 4294967296) {
      this.writeU8(201);
      this.writeU32(size);
    } else {
      throw new Error(`Too large extension object: ${size}`);
    }
    this.writeI8(ext.type);
    this.writeU8a(ext.data);
  }
  writeU8(value) {
    this.ensureBufferSizeToWrite(1);
    this.view.setUint8(this.pos, value);
    this.pos++;
  }
  writeU8a(values) {
    const size = values.length;
    this.ensureBufferSizeToWrite(size);
    this.bytes.set(values, this.pos);
    this.pos += size;
  }
  writeI8(value) {
    this.ensureBufferSizeToWrite(1);
    this.view.setInt8(this.pos, value);
    this.pos++;
  }
  writeU16(value) {
    this.ensureBufferSizeToWrite(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
  }
  writeI16(value) {
    this.ensureBufferSizeToWrite(2);
    this.view.setInt16(this.pos, value);
    this.pos += 2;
  }
  writeU32(value) {
    this.ensureBufferSizeToWrite(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
  }
  writeI32(value) {
    this.ensureBufferSizeToWrite(4);
    this.view.setInt32(this.pos, value);
    this.pos += 4;
  }
  writeF32(value) {
    this.ensureBufferSizeToWrite(4);
    this.view.setFloat32(this.pos, value);
    this.pos += 4;
  }
  writeF64(value) {
    this.ensureBufferSizeToWrite(8);
    this.view.setFloat64(this.pos, value);
    this.pos += 8;
  }
  writeU64(value) {
    this.ensureBufferSizeToWrite(8);
    setUint64(this.view, this.pos, value);
    this.pos += 8;
  }
  writeI64(value) {
    this.ensureBufferSizeToWrite(8);
    setInt64(this.view, this.pos, value);
    this.pos += 8;
  }
  writeBigUint64(value) {
    this.ensureBufferSizeToWrite(8);
    this.view.setBigUint64(this.pos, value);
    this.pos += 8;
  }
  writeBigInt64(value) {
    this.ensureBufferSizeToWrite(8);
    this.view.setBigInt64(this.pos, value);
    this.pos += 8;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/encode.mjs
function encode(value, options) {
  const encoder = new Encoder(options);
  return encoder.encodeSharedRef(value);
}

// node_modules/@msgpack/msgpack/dist.esm/utils/prettyByte.mjs
function prettyByte(byte) {
  return `${byte < 0 ? "-" : ""}0x${Math.abs(byte).toString(16).padStart(2, "0")}`;
}

// node_modules/@msgpack/msgpack/dist.esm/CachedKeyDecoder.mjs
var DEFAULT_MAX_KEY_LENGTH = 16;
var DEFAULT_MAX_LENGTH_PER_KEY = 16;
var CachedKeyDecoder = class {
  hit = 0;
  miss = 0;
  caches;
  maxKeyLength;
  maxLengthPerKey;
  constructor(maxKeyLength = DEFAULT_MAX_KEY_LENGTH, maxLengthPerKey = DEFAULT_MAX_LENGTH_PER_KEY) {
    this.maxKeyLength = maxKeyLength;
    this.maxLengthPerKey = maxLengthPerKey;
    this.caches = [];
    for (let i = 0; i < this.maxKeyLength; i++) {
      this.caches.push([]);
    }
  }
  canBeCached(byteLength) {
    return byteLength > 0 && byteLength <= this.maxKeyLength;
  }
  find(bytes, inputOffset, byteLength) {
    const records = this.caches[byteLength - 1];
    FIND_CHUNK: for (const record of records) {
      const recordBytes = record.bytes;
      for (let j = 0; j < byteLength; j++) {
        if (recordBytes[j] !== bytes[inputOffset + j]) {
          continue FIND_CHUNK;
        }
      }
      return record.str;
    }
    return null;
  }
  store(bytes, value) {
    const records = this.caches[bytes.length - 1];
    const record = { bytes, str: value };
    if (records.length >= this.maxLengthPerKey) {
      records[Math.random() * records.length | 0] = record;
    } else {
      records.push(record);
    }
  }
  decode(bytes, inputOffset, byteLength) {
    const cachedValue = this.find(bytes, inputOffset, byteLength);
    if (cachedValue != null) {
      this.hit++;
      return cachedValue;
    }
    this.miss++;
    const str = utf8DecodeJs(bytes, inputOffset, byteLength);
    const slicedCopyOfBytes = Uint8Array.prototype.slice.call(bytes, inputOffset, inputOffset + byteLength);
    this.store(slicedCopyOfBytes, str);
    return str;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/Decoder.mjs
var STATE_ARRAY = "array";
var STATE_MAP_KEY = "map_key";
var STATE_MAP_VALUE = "map_value";
var mapKeyConverter = (key) => {
  if (typeof key === "string" || typeof key === "number") {
    return key;
  }
  throw new DecodeError("The type of key must be string or number but " + typeof key);
};
var StackPool = class {
  stack = [];
  stackHeadPosition = -1;
  get length() {
    return this.stackHeadPosition + 1;
  }
  top() {
    return this.stack[this.stackHeadPosition];
  }
  pushArrayState(size) {
    const state = this.getUninitializedStateFromPool();
    state.type = STATE_ARRAY;
    state.position = 0;
    state.size = size;
    state.array = new Array(size);
  }
  pushMapState(size) {
    const state = this.getUninitializedStateFromPool();
    state.type = STATE_MAP_KEY;
    state.readCount = 0;
    state.size = size;
    state.map = {};
  }
  getUninitializedStateFromPool() {
    this.stackHeadPosition++;
    if (this.stackHeadPosition === this.stack.length) {
      const partialState = {
        type: void 0,
        size: 0,
        array: void 0,
        position: 0,
        readCount: 0,
        map: void 0,
        key: null
      };
      this.stack.push(partialState);
    }
    return this.stack[this.stackHeadPosition];
  }
  release(state) {
    const topStackState = this.stack[this.stackHeadPosition];
    if (topStackState !== state) {
      throw new Error("Invalid stack state. Released state is not on top of the stack.");
    }
    if (state.type === STATE_ARRAY) {
      const partialState = state;
      partialState.size = 0;
      partialState.array = void 0;
      partialState.position = 0;
      partialState.type = void 0;
    }
    if (state.type === STATE_MAP_KEY || state.type === STATE_MAP_VALUE) {
      const partialState = state;
      partialState.size = 0;
      partialState.map = void 0;
      partialState.readCount = 0;
      partialState.type = void 0;
    }
    this.stackHeadPosition--;
  }
  reset() {
    this.stack.length = 0;
    this.stackHeadPosition = -1;
  }
};
var HEAD_BYTE_REQUIRED = -1;
var EMPTY_VIEW = new DataView(new ArrayBuffer(0));
var EMPTY_BYTES = new Uint8Array(EMPTY_VIEW.buffer);
try {
  EMPTY_VIEW.getInt8(0);
} catch (e) {
  if (!(e instanceof RangeError)) {
    throw new Error("This module is not supported in the current JavaScript engine because DataView does not throw RangeError on out-of-bounds access");
  }
}
var MORE_DATA = new RangeError("Insufficient data");
var sharedCachedKeyDecoder = new CachedKeyDecoder();
var Decoder = class _Decoder {
  extensionCodec;
  context;
  useBigInt64;
  rawStrings;
  maxStrLength;
  maxBinLength;
  maxArrayLength;
  maxMapLength;
  maxExtLength;
  keyDecoder;
  mapKeyConverter;
  totalPos = 0;
  pos = 0;
  view = EMPTY_VIEW;
  bytes = EMPTY_BYTES;
  headByte = HEAD_BYTE_REQUIRED;
  stack = new StackPool();
  entered = false;
  constructor(options) {
    this.extensionCodec = options?.extensionCodec ?? ExtensionCodec.defaultCodec;
    this.context = options?.context;
    this.useBigInt64 = options?.useBigInt64 ?? false;
    this.rawStrings = options?.rawStrings ?? false;
    this.maxStrLength = options?.maxStrLength ?? UINT32_MAX;
    this.maxBinLength = options?.maxBinLength ?? UINT32_MAX;
    this.maxArrayLength = options?.maxArrayLength ?? UINT32_MAX;
    this.maxMapLength = options?.maxMapLength ?? UINT32_MAX;
    this.maxExtLength = options?.maxExtLength ?? UINT32_MAX;
    this.keyDecoder = options?.keyDecoder !== void 0 ? options.keyDecoder : sharedCachedKeyDecoder;
    this.mapKeyConverter = options?.mapKeyConverter ?? mapKeyConverter;
  }
  clone() {
    return new _Decoder({
      extensionCodec: this.extensionCodec,
      context: this.context,
      useBigInt64: this.useBigInt64,
      rawStrings: this.rawStrings,
      maxStrLength: this.maxStrLength,
      maxBinLength: this.maxBinLength,
      maxArrayLength: this.maxArrayLength,
      maxMapLength: this.maxMapLength,
      maxExtLength: this.maxExtLength,
      keyDecoder: this.keyDecoder
    });
  }
  reinitializeState() {
    this.totalPos = 0;
    this.headByte = HEAD_BYTE_REQUIRED;
    this.stack.reset();
  }
  setBuffer(buffer) {
    const bytes = ensureUint8Array(buffer);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  appendBuffer(buffer) {
    if (this.headByte === HEAD_BYTE_REQUIRED && !this.hasRemaining(1)) {
      this.setBuffer(buffer);
    } else {
      const remainingData = this.bytes.subarray(this.pos);
      const newData = ensureUint8Array(buffer);
      const newBuffer = new Uint8Array(remainingData.length + newData.length);
      newBuffer.set(remainingData);
      newBuffer.set(newData, remainingData.length);
      this.setBuffer(newBuffer);
    }
  }
  hasRemaining(size) {
    return this.view.byteLength - this.pos >= size;
  }
  createExtraByteError(posToShow) {
    const { view, pos } = this;
    return new RangeError(`Extra ${view.byteLength - pos} of ${view.byteLength} byte(s) found at buffer[${posToShow}]`);
  }
  /**
   * @throws {@link DecodeError}
   * @throws {@link RangeError}
   */
  decode(buffer) {
    if (this.entered) {
      const instance = this.clone();
      return instance.decode(buffer);
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.setBuffer(buffer);
      const object = this.doDecodeSync();
      if (this.hasRemaining(1)) {
        throw this.createExtraByteError(this.pos);
      }
      return object;
    } finally {
      this.entered = false;
    }
  }
  *decodeMulti(buffer) {
    if (this.entered) {
      const instance = this.clone();
      yield* instance.decodeMulti(buffer);
      return;
    }
    try {
      this.entered = true;
      this.reinitializeState();
      this.setBuffer(buffer);
      while (this.hasRemaining(1)) {
        yield this.doDecodeSync();
      }
    } finally {
      this.entered = false;
    }
  }
  async decodeAsync(stream) {
    if (this.entered) {
      const instance = this.clone();
      return instance.decodeAsync(stream);
    }
    try {
      this.entered = true;
      let decoded = false;
      let object;
      for await (const buffer of stream) {
        if (decoded) {
          this.entered = false;
          throw this.createExtraByteError(this.totalPos);
        }
        this.appendBuffer(buffer);
        try {
          object = this.doDecodeSync();
          decoded = true;
        } catch (e) {
          if (!(e instanceof RangeError)) {
            throw e;
          }
        }
        this.totalPos += this.pos;
      }
      if (decoded) {
        if (this.hasRemaining(1)) {
          throw this.createExtraByteError(this.totalPos);
        }
        return object;
      }
      const { headByte, pos, totalPos } = this;
      throw new RangeError(`Insufficient data in parsing ${prettyByte(headByte)} at ${totalPos} (${pos} in the current buffer)`);
    } finally {
      this.entered = false;
    }
  }
  decodeArrayStream(stream) {
    return this.decodeMultiAsync(stream, true);
  }
  decodeStream(stream) {
    return this.decodeMultiAsync(stream, false);
  }
  async *decodeMultiAsync(stream, isArray) {
    if (this.entered) {
      const instance = this.clone();
      yield* instance.decodeMultiAsync(stream, isArray);
      return;
    }
    try {
      this.entered = true;
      let isArrayHeaderRequired = isArray;
      let arrayItemsLeft = -1;
      for await (const buffer of stream) {
        if (isArray && arrayItemsLeft === 0) {
          throw this.createExtraByteError(this.totalPos);
        }
        this.appendBuffer(buffer);
        if (isArrayHeaderRequired) {
          arrayItemsLeft = this.readArraySize();
          isArrayHeaderRequired = false;
          this.complete();
        }
        try {
          while (true) {
            yield this.doDecodeSync();
            if (--arrayItemsLeft === 0) {
              break;
            }
          }
        } catch (e) {
          if (!(e instanceof RangeError)) {
            throw e;
          }
        }
        this.totalPos += this.pos;
      }
    } finally {
      this.entered = false;
    }
  }
  doDecodeSync() {
    DECODE: while (true) {
      const headByte = this.readHeadByte();
      let object;
      if (headByte >= 224) {
        object = headByte - 256;
      } else if (headByte < 192) {
        if (headByte < 128) {
          object = headByte;
        } else if (headByte < 144) {
          const size = headByte - 128;
          if (size !== 0) {
            this.pushMapState(size);
            this.complete();
            continue DECODE;
          } else {
            object = {};
          }
        } else if (headByte < 160) {
          const size = headByte - 144;
          if (size !== 0) {
            this.pushArrayState(size);
            this.complete();
            continue DECODE;
          } else {
            object = [];
          }
        } else {
          const byteLength = headByte - 160;
          object = this.decodeString(byteLength, 0);
        }
      } else if (headByte === 192) {
        object = null;
      } else if (headByte === 194) {
        object = false;
      } else if (headByte === 195) {
        object = true;
      } else if (headByte === 202) {
        object = this.readF32();
      } else if (headByte === 203) {
        object = this.readF64();
      } else if (headByte === 204) {
        object = this.readU8();
      } else if (headByte === 205) {
        object = this.readU16();
      } else if (headByte === 206) {
        object = this.readU32();
      } else if (headByte === 207) {
        if (this.useBigInt64) {
          object = this.readU64AsBigInt();
        } else {
          object = this.readU64();
        }
      } else if (headByte === 208) {
        object = this.readI8();
      } else if (headByte === 209) {
        object = this.readI16();
      } else if (headByte === 210) {
        object = this.readI32();
      } else if (headByte === 211) {
        if (this.useBigInt64) {
          object = this.readI64AsBigInt();
        } else {
          object = this.readI64();
        }
      } else if (headByte === 217) {
        const byteLength = this.lookU8();
        object = this.decodeString(byteLength, 1);
      } else if (headByte === 218) {
        const byteLength = this.lookU16();
        object = this.decodeString(byteLength, 2);
      } else if (headByte === 219) {
        const byteLength = this.lookU32();
        object = this.decodeString(byteLength, 4);
      } else if (headByte === 220) {
        const size = this.readU16();
        if (size !== 0) {
          this.pushArrayState(size);
          this.complete();
          continue DECODE;
        } else {
          object = [];
        }
      } else if (headByte === 221) {
        const size = this.readU32();
        if (size !== 0) {
          this.pushArrayState(size);
          this.complete();
          continue DECODE;
        } else {
          object = [];
        }
      } else if (headByte === 222) {
        const size = this.readU16();
        if (size !== 0) {
          this.pushMapState(size);
          this.complete();
          continue DECODE;
        } else {
          object = {};
        }
      } else if (headByte === 223) {
        const size = this.readU32();
        if (size !== 0) {
          this.pushMapState(size);
          this.complete();
          continue DECODE;
        } else {
          object = {};
        }
      } else if (headByte === 196) {
        const size = this.lookU8();
        object = this.decodeBinary(size, 1);
      } else if (headByte === 197) {
        const size = this.lookU16();
        object = this.decodeBinary(size, 2);
      } else if (headByte === 198) {
        const size = this.lookU32();
        object = this.decodeBinary(size, 4);
      } else if (headByte === 212) {
        object = this.decodeExtension(1, 0);
      } else if (headByte === 213) {
        object = this.decodeExtension(2, 0);
      } else if (headByte === 214) {
        object = this.decodeExtension(4, 0);
      } else if (headByte === 215) {
        object = this.decodeExtension(8, 0);
      } else if (headByte === 216) {
        object = this.decodeExtension(16, 0);
      } else if (headByte === 199) {
        const size = this.lookU8();
        object = this.decodeExtension(size, 1);
      } else if (headByte === 200) {
        const size = this.lookU16();
        object = this.decodeExtension(size, 2);
      } else if (headByte === 201) {
        const size = this.lookU32();
        object = this.decodeExtension(size, 4);
      } else {
        throw new DecodeError(`Unrecognized type byte: ${prettyByte(headByte)}`);
      }
      this.complete();
      const stack = this.stack;
      while (stack.length > 0) {
        const state = stack.top();
        if (state.type === STATE_ARRAY) {
          state.array[state.position] = object;
          state.position++;
          if (state.position === state.size) {
            object = state.array;
            stack.release(state);
          } else {
            continue DECODE;
          }
        } else if (state.type === STATE_MAP_KEY) {
          if (object === "__proto__") {
            throw new DecodeError("The key __proto__ is not allowed");
          }
          state.key = this.mapKeyConverter(object);
          state.type = STATE_MAP_VALUE;
          continue DECODE;
        } else {
          state.map[state.key] = object;
          state.readCount++;
          if (state.readCount === state.size) {
            object = state.map;
            stack.release(state);
          } else {
            state.key = null;
            state.type = STATE_MAP_KEY;
            continue DECODE;
          }
        }
      }
      return object;
    }
  }
  readHeadByte() {
    if (this.headByte === HEAD_BYTE_REQUIRED) {
      this.headByte = this.readU8();
    }
    return this.headByte;
  }
  complete() {
    this.headByte = HEAD_BYTE_REQUIRED;
  }
  readArraySize() {
    const headByte = this.readHeadByte();
    switch (headByte) {
      case 220:
        return this.readU16();
      case 221:
        return this.readU32();
      default: {
        if (headByte < 160) {
          return headByte - 144;
        } else {
          throw new DecodeError(`Unrecognized array type byte: ${prettyByte(headByte)}`);
        }
      }
    }
  }
  pushMapState(size) {
    if (size > this.maxMapLength) {
      throw new DecodeError(`Max length exceeded: map length (${size}) > maxMapLengthLength (${this.maxMapLength})`);
    }
    this.stack.pushMapState(size);
  }
  pushArrayState(size) {
    if (size > this.maxArrayLength) {
      throw new DecodeError(`Max length exceeded: array length (${size}) > maxArrayLength (${this.maxArrayLength})`);
    }
    this.stack.pushArrayState(size);
  }
  decodeString(byteLength, headerOffset) {
    if (!this.rawStrings || this.stateIsMapKey()) {
      return this.decodeUtf8String(byteLength, headerOffset);
    }
    return this.decodeBinary(byteLength, headerOffset);
  }
  /**
   * @throws {@link RangeError}
   */
  decodeUtf8String(byteLength, headerOffset) {
    if (byteLength > this.maxStrLength) {
      throw new DecodeError(`Max length exceeded: UTF-8 byte length (${byteLength}) > maxStrLength (${this.maxStrLength})`);
    }
    if (this.bytes.byteLength < this.pos + headerOffset + byteLength) {
      throw MORE_DATA;
    }
    const offset = this.pos + headerOffset;
    let object;
    if (this.stateIsMapKey() && this.keyDecoder?.canBeCached(byteLength)) {
      object = this.keyDecoder.decode(this.bytes, offset, byteLength);
    } else {
      object = utf8Decode(this.bytes, offset, byteLength);
    }
    this.pos += headerOffset + byteLength;
    return object;
  }
  stateIsMapKey() {
    if (this.stack.length > 0) {
      const state = this.stack.top();
      return state.type === STATE_MAP_KEY;
    }
    return false;
  }
  /**
   * @throws {@link RangeError}
   */
  decodeBinary(byteLength, headOffset) {
    if (byteLength > this.maxBinLength) {
      throw new DecodeError(`Max length exceeded: bin length (${byteLength}) > maxBinLength (${this.maxBinLength})`);
    }
    if (!this.hasRemaining(byteLength + headOffset)) {
      throw MORE_DATA;
    }
    const offset = this.pos + headOffset;
    const object = this.bytes.subarray(offset, offset + byteLength);
    this.pos += headOffset + byteLength;
    return object;
  }
  decodeExtension(size, headOffset) {
    if (size > this.maxExtLength) {
      throw new DecodeError(`Max length exceeded: ext length (${size}) > maxExtLength (${this.maxExtLength})`);
    }
    const extType = this.view.getInt8(this.pos + headOffset);
    const data = this.decodeBinary(
      size,
      headOffset + 1
      /* extType */
    );
    return this.extensionCodec.decode(data, extType, this.context);
  }
  lookU8() {
    return this.view.getUint8(this.pos);
  }
  lookU16() {
    return this.view.getUint16(this.pos);
  }
  lookU32() {
    return this.view.getUint32(this.pos);
  }
  readU8() {
    const value = this.view.getUint8(this.pos);
    this.pos++;
    return value;
  }
  readI8() {
    const value = this.view.getInt8(this.pos);
    this.pos++;
    return value;
  }
  readU16() {
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }
  readI16() {
    const value = this.view.getInt16(this.pos);
    this.pos += 2;
    return value;
  }
  readU32() {
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }
  readI32() {
    const value = this.view.getInt32(this.pos);
    this.pos += 4;
    return value;
  }
  readU64() {
    const value = getUint64(this.view, this.pos);
    this.pos += 8;
    return value;
  }
  readI64() {
    const value = getInt64(this.view, this.pos);
    this.pos += 8;
    return value;
  }
  readU64AsBigInt() {
    const value = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return value;
  }
  readI64AsBigInt() {
    const value = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return value;
  }
  readF32() {
    const value = this.view.getFloat32(this.pos);
    this.pos += 4;
    return value;
  }
  readF64() {
    const value = this.view.getFloat64(this.pos);
    this.pos += 8;
    return value;
  }
};

// node_modules/@msgpack/msgpack/dist.esm/decode.mjs
function decode(buffer, options) {
  const decoder = new Decoder(options);
  return decoder.decode(buffer);
}

// src/state.ts
var MAX_DEPTH = 64;
var SET = 1;
var TRUNCATE = 2;
var MERGE = 3;
var REMOVED_EXT = 80;
function isRemoved(value) {
  return typeof value === "object" && value !== null && value.type === REMOVED_EXT && value.data instanceof Uint8Array;
}
function isMap(value) {
  return isNode(value) && !Array.isArray(value) && !isRemoved(value);
}
function matches(pattern, path) {
  for (let i = 0; i < pattern.length; i++) {
    const step = pattern[i];
    if (step === "**" && i === pattern.length - 1) return true;
    if (i >= path.length) return false;
    if (step !== "*" && String(step) !== String(path[i])) return false;
  }
  return pattern.length === path.length;
}
function isNode(value) {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array);
}
function child(node, step) {
  if (Array.isArray(node)) {
    if (typeof step !== "number" || step < 0 || step >= node.length) throw new Error(`no item ${step}`);
    return node[step];
  }
  if (isNode(node) && Object.prototype.hasOwnProperty.call(node, String(step))) {
    return node[String(step)];
  }
  throw new Error(`no entry ${String(step)}`);
}
var StateReplica = class {
  /** The state's name (the server's `StateConfig::name`). */
  name;
  current = void 0;
  listeners = [];
  constructor(name) {
    this.name = name;
  }
  /** The state (`undefined` until the whole state arrived). */
  get value() {
    return this.current;
  }
  /**
   * Calls `listener` when a value at a path matching `pattern` is replaced; a whole state
   * arriving is a change of the root (`[]`, or `["**"]`).
   */
  onChange(pattern, listener) {
    this.listeners.push({ kind: "change", pattern, listener });
    return this;
  }
  /** Calls `listener` when a map entry or list item appears at a path matching `pattern`. */
  onAdd(pattern, listener) {
    this.listeners.push({ kind: "add", pattern, listener });
    return this;
  }
  /** Calls `listener` when a map entry or list item at a path matching `pattern` goes. */
  onRemove(pattern, listener) {
    this.listeners.push({ kind: "remove", pattern, listener });
    return this;
  }
  /**
   * Applies a `state:full` or `state:patch` message of this state (the client does it for
   * the states it follows). Throws on a message that does not fit: a patch before the
   * whole state, an op that leads nowhere.
   */
  apply(message) {
    if (message.name !== this.name) return;
    if (message.action === "state:full") {
      this.current = message.state;
      this.emit("change", [], this.current);
      return;
    }
    if (message.action !== "state:patch") return;
    if (this.current === void 0) throw new Error(`a patch of ${this.name} before the whole state`);
    const ops = message.ops;
    if (!Array.isArray(ops)) throw new Error("a patch without ops");
    for (const op of ops) this.applyOp(op);
  }
  applyOp(op) {
    if (!Array.isArray(op) || !Array.isArray(op[1])) throw new Error(`not a patch op: ${String(op)}`);
    const [kind, path] = op;
    if (path.length > MAX_DEPTH) throw new Error("a path too deep");
    if (kind === TRUNCATE) {
      let node = this.current;
      for (const step of path) node = child(node, step);
      const len = op[2];
      if (!Array.isArray(node) || typeof len !== "number") throw new Error("not a list");
      const gone = node.length;
      node.length = Math.min(node.length, len);
      for (let i = len; i < gone; i++) this.emit("remove", [...path, i], void 0);
      return;
    }
    if (kind === MERGE) {
      let node = this.current;
      for (const step of path) node = child(node, step);
      if (!isMap(node) || !isMap(op[2])) throw new Error(`a merge that does not fit at ${path.join(".")}`);
      this.merge(node, op[2], [...path]);
      return;
    }
    if (path.length === 0) {
      if (kind !== SET) throw new Error("not an op");
      this.current = op[2];
      this.emit("change", [], this.current);
      return;
    }
    let parent = this.current;
    for (const step of path.slice(0, -1)) parent = child(parent, step);
    const last = path[path.length - 1];
    if (Array.isArray(parent)) {
      if (kind !== SET || typeof last !== "number" || last < 0 || last > parent.length) {
        throw new Error(`an op that does not fit at ${path.join(".")}`);
      }
      const added = last === parent.length;
      parent[last] = op[2];
      this.emit(added ? "add" : "change", path, op[2]);
      return;
    }
    if (!isNode(parent)) throw new Error(`no place at ${path.join(".")}`);
    const map = parent;
    if (kind !== SET) throw new Error(`an op that does not fit at ${path.join(".")}`);
    const key = String(last);
    const had = Object.prototype.hasOwnProperty.call(map, key);
    map[key] = op[2];
    this.emit(had ? "change" : "add", path, op[2]);
  }
  /** Merges `changes` into the map `target` (at `path`), reporting each entry. */
  merge(target, changes, path) {
    for (const [key, value] of Object.entries(changes)) {
      const at = [...path, key];
      const had = Object.prototype.hasOwnProperty.call(target, key);
      if (isRemoved(value)) {
        if (had) {
          delete target[key];
          this.emit("remove", at, void 0);
        }
      } else if (had && isMap(value) && isMap(target[key])) {
        this.merge(target[key], value, at);
      } else {
        target[key] = value;
        this.emit(had ? "change" : "add", at, value);
      }
    }
  }
  emit(kind, path, value) {
    for (const l of this.listeners) {
      if (l.kind === kind && matches(l.pattern, path)) l.listener(value, path);
    }
  }
};

// src/index.ts
var PROTOCOL_VERSION = 2;
var RESUME_DEFAULTS = {
  initialBackoff: 100,
  maxBackoff: 5e3,
  maxAttempts: 12,
  answerTimeout: 5e3,
  ackEvery: 128,
  ackBytes: 65536,
  ackDelay: 50,
  maxUnackedBytes: 4 * 1024 * 1024
};
var RESUME_BUSY = "resume busy: too many resume attempts, try again shortly";
var DEFAULTS = {
  pump: false,
  resume: true,
  maxQueued: 1e4,
  type: "classic",
  hello: true,
  heartbeatInterval: 5e3,
  heartbeatTimeout: 3e4,
  connectTimeout: 1e4
};
var Client = class {
  /** The server's URL. */
  url;
  /** The latest round trip to a podnet server, in milliseconds (`undefined` until measured). */
  rtt;
  /** Resolves once, when the connection has ended, with why. */
  closed;
  options;
  Impl;
  ws;
  /** Counts the WebSockets opened: events of one this client let go of are ignored. */
  link = 0;
  handlers = /* @__PURE__ */ new Map();
  fallbackHandler;
  replicas = /* @__PURE__ */ new Map();
  disconnectHandlers = [];
  reconnectingHandlers = [];
  resumedHandlers = [];
  errorHandlers = [];
  outbox = [];
  queue = [];
  /**
   * `connecting` (the first connection), `open`, `away` (dropped: waiting to reconnect, or
   * reconnecting), `resuming` (reconnected, the resume asked for), `closing`, `closed`.
   */
  phase = "connecting";
  closeRequested;
  /** Whether the first connection, which failed before it opened, was tried again. */
  redialed = false;
  /** The reason this side closed with: what `onDisconnected` reports for that close. */
  ownReason;
  /** Why the current connection ends, when this side knows better than its close event. */
  linkReason;
  /** The server broke the protocol: the session cannot go on. */
  fatal = false;
  /** The server's `podnet:close` reason on the current connection. */
  serverReason;
  podnetServer = false;
  pingSeq = 0;
  pingsSent = /* @__PURE__ */ new Map();
  lastHeard = now();
  timer;
  connectTimer;
  answerTimer;
  retryTimer;
  resolveClosed;
  session;
  /** Connects to `url` (`ws://host:port/` or `wss://...`). */
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...DEFAULTS, ...stripUndefined(options) };
    this.closed = new Promise((resolve) => this.resolveClosed = resolve);
    const Impl = options.WebSocket ?? globalThis.WebSocket;
    if (!Impl) {
      throw new Error(
        "no WebSocket in this runtime: on Node 20, install the `ws` package and pass it: new Client(url, { WebSocket })"
      );
    }
    this.Impl = Impl;
    const resume = this.options.resume;
    if (resume !== false && this.options.hello) {
      const settings = resume === true ? {} : resume;
      this.session = new Session({ ...RESUME_DEFAULTS, ...stripUndefined(settings) });
    }
    this.dial();
  }
  /** Whether the connection is open (sends go out now rather than when it opens). */
  get isOpen() {
    return this.phase === "open";
  }
  /** Whether the server granted a resumable session (it survives dropped connections). */
  get resumable() {
    return this.session?.token !== void 0;
  }
  /**
   * Handles messages with this `action` (repod's `Network_<action>`). The server's
   * greeting arrives as the action `connected`. One handler per action; a new one
   * replaces the old. Name the message's type to have it typed (the client does not
   * check its fields):
   *
   * ```ts
   * interface Chat { action: "message"; nickname: string; text: string }
   * client.on<Chat>("message", (msg) => console.log(`${msg.nickname}: ${msg.text}`));
   * ```
   */
  on(action, handler) {
    this.handlers.set(action, handler);
    return this;
  }
  /**
   * The replicated state `name` the server sends (podnet-state, docs/state.md), kept up
   * to date from its `state:full` and `state:patch` messages (from the first, whether or
   * not this was called yet), which it then takes (they reach a handler of their action
   * only if there is one, never the fallback):
   *
   * ```ts
   * interface Arena { players: Record<string, { x: number; y: number }> }
   * const arena = client.state<Arena>();
   * arena.onAdd(["players", "*"], (player, path) => spawn(path[1], player));
   * arena.onRemove(["players", "*"], (_, path) => despawn(path[1]));
   * // Each frame: draw(arena.value)
   * ```
   */
  state(name = "state") {
    let replica = this.replicas.get(name);
    if (!replica) {
      replica = new StateReplica(name);
      this.replicas.set(name, replica);
    }
    return replica;
  }
  /** Stops handling `action`: its messages go to the fallback. */
  off(action) {
    this.handlers.delete(action);
    return this;
  }
  /** Handles messages whose action has no handler (repod's `Network`). */
  fallback(handler) {
    this.fallbackHandler = handler;
    return this;
  }
  /** Called once when the connection ends, with why (repod's `Network_disconnected`). */
  onDisconnected(handler) {
    this.disconnectHandlers.push(handler);
    return this;
  }
  /**
   * Called when the connection dropped and the client is reconnecting to resume its
   * session, before each attempt: show "reconnecting...", pause the game. What is sent
   * meanwhile is kept and goes out once it resumes.
   */
  onReconnecting(handler) {
    this.reconnectingHandlers.push(handler);
    return this;
  }
  /** Called when the session resumed after a drop: nothing sent either way was lost. */
  onResumed(handler) {
    this.resumedHandlers.push(handler);
    return this;
  }
  /**
   * Called for what goes wrong without ending the connection: a message that is not a
   * map with an action, a handler that threw (repod's `Network_error`).
   */
  onError(handler) {
    this.errorHandlers.push(handler);
    return this;
  }
  /**
   * Sends a message: `send({ action: "move", x: 1 })` or `send("move", { x: 1 })`.
   * Before the connection is open it waits, in order, and goes out when it opens; while
   * a dropped connection is being resumed it is kept, and goes out once it resumes.
   *
   * @throws if the action is missing or reserved (`podnet:`), the client is closing, or
   * over `resume.maxUnackedBytes` of sent messages wait for the server's acknowledgement.
   */
  send(message, fields = {}) {
    const msg = typeof message === "string" ? { ...fields, action: message } : message;
    if (typeof msg.action !== "string" || msg.action === "") {
      throw new Error('a message needs an `action`: send({ action: "move", ... })');
    }
    if (msg.action.startsWith("podnet:")) {
      throw new Error(`the action \`${msg.action}\` is reserved: podnet: actions are podnet's own`);
    }
    if (this.phase === "closing" || this.phase === "closed" || this.closeRequested !== void 0) {
      throw new Error(`not connected: the connection to ${this.url} is ${this.phase}`);
    }
    this.write(msg);
  }
  /**
   * Closes the connection with `reason`: what was sent before goes out first, then the
   * reason (`podnet:close` to a podnet server, and the WebSocket close frame). Resolves
   * once the connection has ended. While a dropped connection is being resumed, the close
   * waits for the resume (so that what was sent is delivered), or ends with it if the
   * resume fails.
   */
  close(reason = "closed by the client") {
    if (this.phase === "connecting" || this.phase === "away" || this.phase === "resuming") {
      this.closeRequested = reason;
    } else if (this.phase === "open") {
      this.shut(reason);
    }
    return this.closed;
  }
  /**
   * With `{ pump: true }`: delivers every event that arrived since the last call, in
   * order (messages, errors, the disconnect), and returns how many. Call it once per
   * frame. Without `pump`, events are delivered as they arrive and this returns 0.
   */
  pump() {
    const events = this.queue.splice(0, this.queue.length);
    for (const event of events) {
      this.deliver(event);
    }
    return events.length;
  }
  // ---- inside ----
  write(msg) {
    const { action, ...rest } = msg;
    const bytes = encode({ action, ...rest }, { ignoreUndefined: true });
    this.session?.keep(bytes);
    if (this.phase === "open") {
      this.ws.send(bytes);
    } else if (this.phase === "connecting") {
      this.outbox.push(bytes);
    }
  }
  control(action, fields) {
    const bytes = encode({ action, ...fields });
    if (this.phase === "open" || this.phase === "closing" || this.phase === "resuming") {
      this.ws.send(bytes);
    }
  }
  /** Opens a WebSocket to the server: the first, or a reconnection. */
  dial() {
    const link = ++this.link;
    const mine = () => link === this.link;
    const ws = new this.Impl(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => mine() && this.opened();
    ws.onmessage = (event) => mine() && this.received(event.data);
    ws.onclose = (event) => mine() && this.linkClosed(event.code, event.reason);
    ws.onerror = () => {
    };
    this.ws = ws;
    this.linkReason = void 0;
    this.serverReason = void 0;
    this.connectTimer = setTimeout(() => {
      if (mine() && (this.phase === "connecting" || this.phase === "away")) {
        this.abandon(`could not connect to ${this.url} within ${this.options.connectTimeout} ms`);
      }
    }, this.options.connectTimeout);
  }
  opened() {
    clearTimeout(this.connectTimer);
    this.lastHeard = now();
    if (this.phase === "away" && this.session?.token !== void 0) {
      this.phase = "resuming";
      this.control("podnet:hello", {
        protocol: PROTOCOL_VERSION,
        type: this.options.type,
        token: this.session.token,
        received: this.session.startResume()
      });
      const link = this.link;
      const wait = this.session.settings.answerTimeout;
      this.answerTimer = setTimeout(() => {
        if (link === this.link && this.phase === "resuming") {
          this.abandon(`no answer to the resume within ${wait} ms`);
        }
      }, wait);
      return;
    }
    this.phase = "open";
    if (this.options.hello) {
      const fields = { protocol: PROTOCOL_VERSION, type: this.options.type };
      if (this.session) fields.resume = true;
      this.control("podnet:hello", fields);
    }
    for (const bytes of this.outbox.splice(0, this.outbox.length)) {
      this.ws.send(bytes);
    }
    if (this.options.heartbeatInterval > 0) {
      this.timer = setInterval(() => this.heartbeat(), this.options.heartbeatInterval);
    }
    if (this.closeRequested !== void 0) {
      this.shut(this.closeRequested);
    }
  }
  /** The server's answer to a resume: the session is back; send what it missed. */
  resumed(message) {
    clearTimeout(this.answerTimer);
    const session = this.session;
    const token = message.token;
    if (session === void 0 || message.resumed !== true || typeof token !== "string") {
      return this.fail("the server answered a resume without resuming the session");
    }
    const missed = session.resumed(token, message.received);
    if (missed === void 0) {
      return this.fail(
        `the server says it had ${String(message.received)} of this client's messages, outside what was sent and not yet acknowledged`
      );
    }
    this.phase = "open";
    for (const bytes of missed) {
      this.ws.send(bytes);
    }
    this.emit({ kind: "resumed" });
    if (this.closeRequested !== void 0) {
      this.shut(this.closeRequested);
    }
  }
  /**
   * The server settled this connection as a repod player before this client's hello
   * reached it (it came later than the server's `hello_wait`). A plain session goes on, and
   * the answer to the hello, which follows, may still grant the resumable one asked for; a
   * resume tries again on a new connection; another connection type cannot be had now.
   */
  settledSilent() {
    if (!this.options.hello) return;
    if (this.phase === "resuming") {
      this.ws.close();
      return;
    }
    this.podnetServer = true;
    if (this.options.type !== "classic") {
      this.linkReason = `the server settled this connection as "classic" before its hello (asking for "${this.options.type}") arrived; connect again`;
      this.session?.forget();
      this.shut(this.linkReason);
    }
  }
  /** The server broke the protocol: close, saying so. */
  fail(error) {
    this.fatal = true;
    this.linkReason = `protocol error: ${error}`;
    this.session?.forget();
    if (this.phase === "open" || this.phase === "resuming") {
      this.shut(this.linkReason);
    } else {
      this.abandon(this.linkReason);
    }
  }
  /**
   * Lets go of the current WebSocket at once (its events are ignored from now on): it
   * timed out, or failed to connect or to answer in time.
   */
  abandon(reason) {
    const ws = this.ws;
    this.link += 1;
    try {
      ws.close();
    } catch {
    }
    this.linkEnded(1006, reason);
  }
  shut(reason) {
    this.phase = "closing";
    this.ownReason = reason;
    if (this.podnetServer) {
      this.control("podnet:close", { reason });
    }
    this.ws.close(1e3, truncateUtf8(reason, 123));
  }
  heartbeat() {
    if (!this.podnetServer || this.phase !== "open") {
      return;
    }
    const silent = now() - this.lastHeard;
    if (silent > this.options.heartbeatTimeout) {
      this.abandon(`timed out: nothing from the server for ${Math.round(silent)} ms`);
      return;
    }
    this.pingSeq += 1;
    this.pingsSent.set(this.pingSeq, now());
    if (this.pingsSent.size > 16) {
      const oldest = this.pingsSent.keys().next().value;
      if (oldest !== void 0) this.pingsSent.delete(oldest);
    }
    this.control("podnet:ping", { seq: this.pingSeq });
  }
  received(data) {
    this.lastHeard = now();
    if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      this.emit({ kind: "error", error: new Error("the server sent a text message; podnet messages are binary") });
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    let msg;
    try {
      msg = decode(bytes);
    } catch (err) {
      this.counted(bytes.length);
      this.emit({ kind: "error", error: new Error(`a message that is not msgpack: ${String(err)}`) });
      return;
    }
    if (typeof msg !== "object" || msg === null || typeof msg.action !== "string") {
      this.counted(bytes.length);
      this.emit({ kind: "error", error: new Error("a message that is not a map with an `action`") });
      return;
    }
    const message = msg;
    if (!message.action.startsWith("podnet:")) {
      this.counted(bytes.length);
    }
    switch (message.action) {
      case "podnet:hello": {
        if (message.silent === true) {
          return this.settledSilent();
        }
        if (this.phase === "resuming") {
          return this.resumed(message);
        }
        this.podnetServer = true;
        if (message.protocol !== PROTOCOL_VERSION) {
          this.linkReason = `podnet protocol mismatch: the server speaks version ${String(message.protocol)}, this client version ${PROTOCOL_VERSION}; update the one that is behind`;
          this.session?.forget();
          this.shut(this.linkReason);
          return;
        }
        if (this.session && typeof message.token === "string") {
          this.session.token = message.token;
        } else {
          this.session?.forget();
        }
        return;
      }
      case "podnet:ack": {
        if (this.session && !this.session.acked(message.n)) {
          this.fail(`the server acknowledged ${String(message.n)} messages, more than were sent`);
        }
        return;
      }
      case "podnet:ping":
        this.control("podnet:pong", { seq: message.seq });
        return;
      case "podnet:pong": {
        const sent = this.pingsSent.get(message.seq);
        if (sent !== void 0) {
          this.pingsSent.delete(message.seq);
          this.rtt = now() - sent;
        }
        return;
      }
      case "podnet:close":
        this.serverReason = typeof message.reason === "string" ? message.reason : "";
        return;
      default:
        if (message.action.startsWith("podnet:")) return;
        if (!this.podnetServer) {
          this.session?.forget();
        }
        this.emit({ kind: "message", message });
    }
  }
  /** An application message of `size` bytes arrived: count it, and acknowledge in time. */
  counted(size) {
    const session = this.session;
    if (session?.token === void 0 || this.phase !== "open") return;
    if (session.received(size)) {
      this.sendAck();
    } else if (session.ackTimer === void 0) {
      session.ackTimer = setTimeout(() => this.sendAck(), session.settings.ackDelay);
    }
  }
  sendAck() {
    const n = this.session?.ackNow();
    if (n !== void 0 && this.phase === "open") {
      this.control("podnet:ack", { n });
    }
  }
  /** The current WebSocket closed. */
  linkClosed(code, closeReason) {
    if (this.phase === "connecting" && !this.redialed && this.closeRequested === void 0) {
      this.redialed = true;
      clearTimeout(this.connectTimer);
      this.dial();
      return;
    }
    const reason = this.linkReason ?? this.ownReason ?? (this.serverReason || void 0) ?? (closeReason !== "" ? closeReason : this.phase === "connecting" || this.phase === "away" ? `could not connect to ${this.url}` : code === 1006 ? "connection lost" : `closed (WebSocket code ${code})`);
    this.linkEnded(code, reason);
  }
  /**
   * The current connection is over, for `reason`: the session resumes on a new one if it
   * can (it is resumable, and neither side closed it), or the client ends.
   */
  linkEnded(code, reason) {
    clearTimeout(this.connectTimer);
    clearTimeout(this.answerTimer);
    const state = this.phase;
    if (state === "closed") return;
    const session = this.session;
    const resumable = session?.token !== void 0 && !this.fatal && (state === "open" || state === "away" || state === "resuming");
    if (!resumable || session === void 0) {
      return this.finish(code, reason);
    }
    if (this.serverReason !== void 0) {
      if (state !== "resuming") return this.finish(code, reason);
      if (this.serverReason !== RESUME_BUSY) {
        return this.finish(code, `the server refused the resume: ${reason}`);
      }
    }
    this.dropped(session, reason);
  }
  /** The connection dropped: reconnect after a pause, or give up after the last attempt. */
  dropped(session, reason) {
    this.phase = "away";
    session.firstDrop ??= reason;
    session.attempts += 1;
    const { maxAttempts, initialBackoff, maxBackoff } = session.settings;
    if (session.attempts > maxAttempts) {
      return this.finish(
        1006,
        `not resumed: the connection dropped (${session.firstDrop}), then ${maxAttempts} reconnection attempts failed (the last: ${reason})`
      );
    }
    this.emit({ kind: "reconnecting", info: { attempt: session.attempts, reason } });
    const full = Math.min(maxBackoff, initialBackoff * 2 ** Math.min(session.attempts - 1, 20));
    const pause = full * (1 - 0.5 * Math.random());
    this.retryTimer = setTimeout(() => {
      if (this.phase === "away") this.dial();
    }, pause);
  }
  /** The client ends, for `reason`. */
  finish(code, reason) {
    if (this.phase === "closed") return;
    const byServer = this.phase !== "closing" && this.closeRequested === void 0;
    this.phase = "closed";
    this.link += 1;
    clearTimeout(this.connectTimer);
    clearTimeout(this.answerTimer);
    clearTimeout(this.retryTimer);
    clearInterval(this.timer);
    this.session?.forget();
    const info = { reason, byServer, code };
    this.emit({ kind: "disconnected", info });
    this.resolveClosed(info);
  }
  emit(event) {
    if (!this.options.pump) {
      this.deliver(event);
      return;
    }
    if (this.queue.length >= this.options.maxQueued && event.kind !== "disconnected") {
      if (this.phase === "open") {
        this.serverReason = `fell behind: over ${this.options.maxQueued} events waiting for pump()`;
        this.shut(this.serverReason);
      }
      return;
    }
    this.queue.push(event);
  }
  deliver(event) {
    try {
      switch (event.kind) {
        case "message": {
          const message = event.message;
          const replica = message.action === "state:full" ? this.state(String(message.name)) : message.action === "state:patch" ? this.replicas.get(String(message.name)) : void 0;
          if (replica) {
            replica.apply(message);
            this.handlers.get(message.action)?.(message, this);
            break;
          }
          const handler = this.handlers.get(message.action) ?? this.fallbackHandler;
          handler?.(message, this);
          break;
        }
        case "error":
          this.report(event.error);
          break;
        case "reconnecting":
          for (const handler of this.reconnectingHandlers) handler(event.info);
          break;
        case "resumed":
          for (const handler of this.resumedHandlers) handler();
          break;
        case "disconnected":
          for (const handler of this.disconnectHandlers) handler(event.info);
          break;
      }
    } catch (err) {
      this.report(err instanceof Error ? err : new Error(String(err)));
    }
  }
  report(error) {
    if (this.errorHandlers.length === 0) {
      console.error("podnet-client:", error);
      return;
    }
    for (const handler of this.errorHandlers) handler(error);
  }
};
var Session = class {
  constructor(settings) {
    this.settings = settings;
  }
  /** The resume token, once the server granted the session. */
  token;
  /** Why the connection first dropped, until it resumes. */
  firstDrop;
  /** Reconnection attempts since the connection dropped. */
  attempts = 0;
  ackTimer;
  /** Sent messages not yet acknowledged: `kept[head]` is number `acked + 1`. */
  kept = [];
  head = 0;
  keptBytes = 0;
  acknowledged = 0;
  sent = 0;
  /** Whether sent messages are kept (until the server turns the session down). */
  keeping = true;
  count = 0;
  ackedCount = 0;
  unackedBytes = 0;
  /** Keeps a sent message until acknowledged; throws past `maxUnackedBytes`. */
  keep(bytes) {
    if (!this.keeping) return;
    const limit = this.settings.maxUnackedBytes;
    if (this.keptBytes > 0 && this.keptBytes + bytes.length > limit) {
      throw new Error(
        `not sent: ${this.keptBytes} bytes of messages wait for the server's acknowledgement, the most resume.maxUnackedBytes (${limit}) allows; the connection is down or the server is not reading`
      );
    }
    this.kept.push(bytes);
    this.keptBytes += bytes.length;
    this.sent += 1;
  }
  /** The server has `n` of this client's messages: let go of those. False if `n` is more than were sent. */
  acked(n) {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) return true;
    if (!this.keeping) return true;
    if (n > this.sent) return false;
    while (this.acknowledged < n) {
      const bytes = this.kept[this.head];
      this.kept[this.head] = EMPTY;
      this.head += 1;
      this.keptBytes -= bytes?.length ?? 0;
      this.acknowledged += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head);
      this.head = 0;
    }
    return true;
  }
  /** An application message of `size` bytes arrived; true when an acknowledgement is due now. */
  received(size) {
    this.count += 1;
    this.unackedBytes += size;
    return this.count - this.ackedCount >= Math.max(1, this.settings.ackEvery) || this.unackedBytes >= this.settings.ackBytes;
  }
  /** The count to acknowledge, if anything arrived since the last acknowledgement. */
  ackNow() {
    clearTimeout(this.ackTimer);
    this.ackTimer = void 0;
    if (this.count === this.ackedCount) return void 0;
    this.ackedCount = this.count;
    this.unackedBytes = 0;
    return this.count;
  }
  /** A resume goes out: returns the count it carries (which acknowledges as much). */
  startResume() {
    clearTimeout(this.ackTimer);
    this.ackTimer = void 0;
    this.ackedCount = this.count;
    this.unackedBytes = 0;
    return this.count;
  }
  /**
   * The server resumed the session with a new `token`, having `theirs` of this client's
   * messages: returns what to send again, in order (undefined if `theirs` is impossible).
   */
  resumed(token, theirs) {
    const n = typeof theirs === "number" ? theirs : 0;
    if (!Number.isInteger(n) || n < this.acknowledged || !this.acked(n)) return void 0;
    this.token = token;
    this.attempts = 0;
    this.firstDrop = void 0;
    return this.kept.slice(this.head);
  }
  /** The session is not resumable (any more): keep nothing. */
  forget() {
    this.keeping = false;
    this.token = void 0;
    this.kept = [];
    this.head = 0;
    this.keptBytes = 0;
    clearTimeout(this.ackTimer);
    this.ackTimer = void 0;
  }
};
var EMPTY = new Uint8Array(0);
function now() {
  return performance.now();
}
function stripUndefined(options) {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== void 0));
}
function truncateUtf8(text, max) {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end] & 192) === 128) end -= 1;
  return new TextDecoder().decode(bytes.slice(0, end));
}
export {
  Client,
  PROTOCOL_VERSION,
  StateReplica
};
