/// Big-endian integer helpers for the wire formats.
enum BigEndian {
  @inline(__always)
  static func store(_ value: UInt64, at pointer: UnsafeMutableRawPointer) {
    pointer.storeBytes(of: value.bigEndian, as: UInt64.self)
  }

  @inline(__always)
  static func store(_ value: UInt32, at pointer: UnsafeMutableRawPointer) {
    pointer.storeBytes(of: value.bigEndian, as: UInt32.self)
  }

  @inline(__always)
  static func loadUInt64(_ pointer: UnsafeRawPointer) -> UInt64 {
    UInt64(bigEndian: pointer.loadUnaligned(as: UInt64.self))
  }

  @inline(__always)
  static func loadUInt32(_ pointer: UnsafeRawPointer) -> UInt32 {
    UInt32(bigEndian: pointer.loadUnaligned(as: UInt32.self))
  }
}

extension Array where Element == UInt8 {
  /// Lowercase hex, for test vectors and fingerprints of public values.
  public var hexString: String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(count * 2)
    for byte in self {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Parses hex (either case); nil on any other character or an odd length.
  public init?(hexString: some StringProtocol) {
    let utf8 = Array(hexString.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(utf8.count / 2)
    var index = 0
    while index < utf8.count {
      guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
      out.append(high << 4 | low)
      index += 2
    }
    self = out
  }
}

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
  switch c {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
  case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
  case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
  default: return nil
  }
}
