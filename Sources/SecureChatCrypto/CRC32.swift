import CDeflate

/// IEEE CRC-32 (the zlib/PNG polynomial; check value 0xCBF43926) from libdeflate, which
/// uses carry-less multiplication (≈ 14 GB/s here, vs ≈ 4 GB/s for zlib). Not a security
/// function: it tells accidental damage apart from forgery, nothing more.
public enum CRC32 {
  @inline(__always)
  public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    return libdeflate_crc32(crc, base, bytes.count)
  }

  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0) }
  }
}
