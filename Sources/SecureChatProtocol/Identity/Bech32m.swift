/// Bech32m (BIP 350), the text encoding of public keys (docs/FORMATS.md §12.1): a prefix, the
/// separator `1`, the data in 32 characters chosen so that none looks like another, and a
/// 6-character checksum. The checksum is a BCH code that detects any change of up to 4
/// characters (a typo, a swapped pair, a dropped character), so a mistyped key is refused
/// instead of becoming another valid key. It is an encoding, not cryptography.
public enum Bech32m {
  static let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
  static let checksumConstant: UInt32 = 0x2bc8_30a3
  /// BIP 173's limit on the whole string.
  public static let maxLength = 90

  public enum DecodingError: Error, Equatable {
    case mixedCase
    case noSeparator
    case tooLong
    case invalidCharacter
    case badChecksum
    case badPadding
  }

  static func polymod(_ values: [UInt8]) -> UInt32 {
    let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
    var check: UInt32 = 1
    for value in values {
      let top = check >> 25
      check = (check & 0x1ff_ffff) << 5 ^ UInt32(value)
      for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { check ^= generator[i] }
    }
    return check
  }

  static func expand(_ prefix: [UInt8]) -> [UInt8] {
    prefix.map { $0 >> 5 } + [0] + prefix.map { $0 & 31 }
  }

  /// Groups of `from` bits to groups of `to` bits, most significant first; `pad` adds zero bits
  /// to finish the last group, otherwise leftover bits must be fewer than `from` and zero.
  static func regroup(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
    var accumulator = 0
    var bits = 0
    var out: [UInt8] = []
    let mask = (1 << to) - 1
    for value in data {
      accumulator = accumulator << from | Int(value)
      bits += from
      while bits >= to {
        bits -= to
        out.append(UInt8((accumulator >> bits) & mask))
      }
      accumulator &= (1 << bits) - 1
    }
    if pad {
      if bits > 0 { out.append(UInt8((accumulator << (to - bits)) & mask)) }
    } else if bits >= from || accumulator != 0 {
      return nil
    }
    return out
  }

  /// `prefix` (lowercase ASCII) and the bytes of `data`, as lowercase text.
  public static func encode(prefix: String, data: [UInt8]) -> String {
    let human = Array(prefix.utf8)
    let values = regroup(data, from: 8, to: 5, pad: true)!
    let check = polymod(expand(human) + values + [0, 0, 0, 0, 0, 0]) ^ checksumConstant
    let checksum = (0..<6).map { UInt8((check >> UInt32(5 * (5 - $0))) & 31) }
    return String(decoding: human + [UInt8(ascii: "1")] + (values + checksum).map { charset[Int($0)] }, as: UTF8.self)
  }

  /// The prefix (lowercase) and the data bytes of `text`, all lowercase or all uppercase.
  public static func decode(_ text: String) throws -> (prefix: String, data: [UInt8]) {
    let bytes = Array(text.utf8)
    guard bytes.count <= maxLength else { throw DecodingError.tooLong }
    guard bytes.allSatisfy({ $0 >= 33 && $0 <= 126 }) else { throw DecodingError.invalidCharacter }
    let hasLower = bytes.contains { $0 >= 0x61 && $0 <= 0x7a }
    let hasUpper = bytes.contains { $0 >= 0x41 && $0 <= 0x5a }
    guard !(hasLower && hasUpper) else { throw DecodingError.mixedCase }
    let lower = bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 32 : $0 }
    guard let separator = lower.lastIndex(of: UInt8(ascii: "1")), separator >= 1, lower.count - separator > 6
    else { throw DecodingError.noSeparator }
    let human = Array(lower[..<separator])
    var values: [UInt8] = []
    for character in lower[(separator + 1)...] {
      guard let value = charset.firstIndex(of: character) else { throw DecodingError.invalidCharacter }
      values.append(UInt8(value))
    }
    guard polymod(expand(human) + values) == checksumConstant else { throw DecodingError.badChecksum }
    guard let data = regroup(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else {
      throw DecodingError.badPadding
    }
    return (String(decoding: human, as: UTF8.self), data)
  }
}
