/// Standard base64 (RFC 4648 §4). Decoding is strict: canonical padding and zero unused bits,
/// so every encoding has exactly one accepted form.
public enum Base64 {
  static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
  static let decodeTable: [UInt8] = {
    var table = [UInt8](repeating: 0xff, count: 256)
    for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
    return table
  }()

  public static func encode(_ bytes: some Collection<UInt8>, padding: Bool = true) -> String {
    String(decoding: encodeBytes(bytes, padding: padding), as: UTF8.self)
  }

  public static func encodeBytes(_ bytes: some Collection<UInt8>, padding: Bool = true) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var iterator = bytes.makeIterator()
    while let b0 = iterator.next() {
      let b1 = iterator.next()
      let b2 = iterator.next()
      out.append(alphabet[Int(b0 >> 2)])
      out.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
      if let b1 {
        out.append(alphabet[Int((b1 & 0x0f) << 2 | (b2 ?? 0) >> 6)])
      } else if padding {
        out.append(UInt8(ascii: "="))
      }
      if let b2 {
        out.append(alphabet[Int(b2 & 0x3f)])
      } else if padding {
        out.append(UInt8(ascii: "="))
      }
    }
    return out
  }

  /// Decodes padded base64 whose length is a multiple of 4; nil if anything is off.
  public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
    let chars = Array(text)
    guard chars.count % 4 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(chars.count / 4 * 3)
    var i = 0
    while i < chars.count {
      let isLast = i + 4 == chars.count
      let pad = isLast ? (chars[i + 3] == UInt8(ascii: "=") ? (chars[i + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
      var values = [UInt8](repeating: 0, count: 4)
      for j in 0..<(4 - pad) {
        let v = decodeTable[Int(chars[i + j])]
        guard v != 0xff else { return nil }
        values[j] = v
      }
      out.append(values[0] << 2 | values[1] >> 4)
      if pad < 2 { out.append(values[1] << 4 | values[2] >> 2) } else if values[1] & 0x0f != 0 { return nil }
      if pad < 1 { out.append(values[2] << 6 | values[3]) } else if pad == 1 && values[2] & 0x03 != 0 { return nil }
      i += 4
    }
    return out
  }
}
