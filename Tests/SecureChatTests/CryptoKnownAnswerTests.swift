import SecureChatCrypto
import SecureChatProtocol
import XCTest

/// Known-answer tests for every wrapper of the crypto module, from the RFCs and NIST.
final class CryptoKnownAnswerTests: XCTestCase {
  private func hex(_ string: String) -> [UInt8] {
    [UInt8](hexString: string.filter { !$0.isWhitespace })!
  }

  // RFC 4231 §4.2, §4.3, §4.7 (test cases 1, 2 and 6).
  func testHMACSHA256RFC4231() throws {
    let cases: [(key: [UInt8], data: [UInt8], tag: String)] = [
      (
        [UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
      ),
      (
        Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
      ),
      (
        [UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
      ),
    ]
    for c in cases {
      let mac = try HMACSHA256(key: SecretBytes(copying: c.key))
      XCTAssertEqual(mac.authenticate(c.data).hexString, c.tag)
      // The context is reused without the key: a second tag must be the same.
      XCTAssertEqual(mac.authenticate(Array(c.data[..<4]), Array(c.data[4...])).hexString, c.tag)
      let tag = hex(c.tag)
      XCTAssertTrue(c.data.withUnsafeBytes { d in tag.withUnsafeBytes { mac.verify(d, expectedTag: $0) } })
      var bad = tag
      bad[31] ^= 1
      XCTAssertFalse(c.data.withUnsafeBytes { d in bad.withUnsafeBytes { mac.verify(d, expectedTag: $0) } })
    }
  }

  // RFC 5869 appendix A.1 and A.3.
  func testHKDFSHA256RFC5869() throws {
    let ikm = SecretBytes(copying: [UInt8](repeating: 0x0b, count: 22))
    let okm1 = try HKDFSHA256.derive(
      inputKeyMaterial: ikm, salt: hex("000102030405060708090a0b0c"), info: hex("f0f1f2f3f4f5f6f7f8f9"), outputCount: 42
    )
    XCTAssertEqual(
      okm1.copyForTesting().hexString,
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    let prk1 = try HKDFSHA256.derive(
      inputKeyMaterial: ikm, salt: hex("000102030405060708090a0b0c"), info: [], outputCount: 32, mode: .extractOnly)
    XCTAssertEqual(prk1.copyForTesting().hexString, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    let expanded = try HKDFSHA256.derive(
      inputKeyMaterial: prk1, salt: [], info: hex("f0f1f2f3f4f5f6f7f8f9"), outputCount: 42, mode: .expandOnly)
    XCTAssertTrue(expanded.constantTimeEquals(okm1))

    let okm3 = try HKDFSHA256.derive(inputKeyMaterial: ikm, salt: [], info: [], outputCount: 42)
    XCTAssertEqual(
      okm3.copyForTesting().hexString,
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
  }

  // RFC 7748 §5.2 (first vector) and §6.1.
  func testX25519RFC7748() throws {
    let scalar = try X25519PrivateKey(
      rawRepresentation: SecretBytes(copying: hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")))
    XCTAssertEqual(
      scalar.sharedSecret(with: hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"))?
        .copyForTesting().hexString,
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")

    let alice = try X25519PrivateKey(
      rawRepresentation: SecretBytes(copying: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
    let bob = try X25519PrivateKey(
      rawRepresentation: SecretBytes(copying: hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")))
    XCTAssertEqual(alice.publicKey.hexString, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    XCTAssertEqual(bob.publicKey.hexString, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    XCTAssertEqual(alice.sharedSecret(with: bob.publicKey)?.copyForTesting().hexString, shared)
    XCTAssertEqual(bob.sharedSecret(with: alice.publicKey)?.copyForTesting().hexString, shared)
  }

  /// Low-order points give an all-zero shared secret, which must be refused.
  func testX25519RejectsLowOrderPoints() throws {
    let key = try X25519PrivateKey()
    let lowOrder = [
      [UInt8](repeating: 0, count: 32),
      [1] + [UInt8](repeating: 0, count: 31),
      hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    ]
    for point in lowOrder {
      XCTAssertNil(key.sharedSecret(with: point), point.hexString)
    }
    XCTAssertNil(key.sharedSecret(with: [UInt8](repeating: 9, count: 31)))
  }

  // NIST SP 800-38A F.2.5 / F.2.6 (CBC-AES256). Our wrapper always pads, so the NIST ciphertext is
  // the first 64 bytes, followed by one block of padding.
  func testAES256CBCNIST() throws {
    let key = SecretBytes(copying: hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"))
    let iv = hex("000102030405060708090a0b0c0d0e0f")
    let plaintext = hex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    )
    let expected =
      "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
    let encryptor = try AES256CBC(key: key, direction: .encrypt)
    let ciphertext = encryptor.encrypt(iv: iv, plaintext: plaintext)
    XCTAssertEqual(ciphertext.count, 80)
    XCTAssertEqual(Array(ciphertext[..<64]).hexString, expected)
    // Reusing the context with only a new IV gives the same result.
    XCTAssertEqual(encryptor.encrypt(iv: iv, plaintext: plaintext), ciphertext)

    let decryptor = try AES256CBC(key: key, direction: .decrypt)
    XCTAssertEqual(decryptor.decrypt(iv: iv, ciphertext: ciphertext), plaintext)
    // Without the padding block, PKCS#7 unpadding must fail rather than return garbage.
    XCTAssertNil(decryptor.decrypt(iv: iv, ciphertext: Array(ciphertext[..<64])))
    XCTAssertNil(decryptor.decrypt(iv: iv, ciphertext: Array(ciphertext[..<63])))
  }

  func testCRC32CheckValue() {
    XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    XCTAssertEqual(CRC32.checksum([]), 0)
    // Incremental use gives the same value as one call.
    let bytes = Array("123456789".utf8)
    let first = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[..<4])) }
    let both = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[4...]), continuing: first) }
    XCTAssertEqual(both, 0xCBF4_3926)
  }

  // FIPS 180-2 "abc".
  func testSHA256() {
    XCTAssertEqual(
      SHA256.hash(Array("abc".utf8)).hexString, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  func testSecretBytesAreRandomAndCompareInConstantTime() {
    let a = SecretBytes.random(count: 32)
    let b = SecretBytes.random(count: 32)
    XCTAssertFalse(a.constantTimeEquals(b))
    XCTAssertTrue(a.constantTimeEquals(a.slice(0..<32)))
    XCTAssertFalse(a.constantTimeEquals(a.slice(0..<31)))
    XCTAssertFalse("\(a)".contains(a.copyForTesting().hexString))
  }
}
