import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Identities and their public keys (FORMATS.md §12.1): the Bech32m text, the checks that refuse
/// a mistyped, cut or low-order key, and sc-keygen --identity / -y.
final class IdentityKeyTests: XCTestCase {
  // BIP 350's valid Bech32m strings: each must decode, and encode back to itself (in lower case).
  func testBech32mAcceptsTheValidStringsOfBIP350() throws {
    let valid = [
      "A1LQFN3A", "a1lqfn3a",
      "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
      "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
      "split1checkupstagehandshakeupstreamerranterredcaperredlc445v", "?1v759aa",
    ]
    for text in valid {
      // These carry 5-bit data that is not always whole bytes: check the checksum alone.
      let lower = Array(text.lowercased().utf8)
      let separator = lower.lastIndex(of: UInt8(ascii: "1"))!
      let values = lower[(separator + 1)...].map { UInt8(Bech32m.charset.firstIndex(of: $0)!) }
      XCTAssertEqual(
        Bech32m.polymod(Bech32m.expand(Array(lower[..<separator])) + values), Bech32m.checksumConstant, text)
    }
  }

  // BIP 350's invalid strings, each for the reason given.
  func testBech32mRefusesTheInvalidStringsOfBIP350() {
    let invalid: [(String, Bech32m.DecodingError)] = [
      ("A1G7SGD8", .badChecksum),  // checksum made with an upper-case prefix
      ("1qzzfhee", .noSeparator),  // empty prefix
      ("M1VUXWEZ", .badChecksum),  // a Bech32 (not Bech32m) checksum
      ("li1dgmt3", .noSeparator),  // checksum too short
      ("pzry9x0s0muk", .noSeparator),  // no separator
      ("x1b4n0q5v", .invalidCharacter),  // 'b' is not in the alphabet
      ("1p2gdwpf", .noSeparator),
      ("16plkw9", .noSeparator),
      ("in1muywd", .noSeparator),  // 'in1' then only 5 characters
      ("mm1crxm3i", .invalidCharacter),  // 'i'
      ("au1s5cgom", .invalidCharacter),  // 'o'
      ("A1LqFN3A", .mixedCase),
    ]
    for (text, reason) in invalid {
      XCTAssertThrowsError(try Bech32m.decode(text), text) {
        XCTAssertEqual($0 as? Bech32m.DecodingError, reason, text)
      }
    }
  }

  func testAPublicKeyRoundTripsThroughItsText() throws {
    let secret = SecretBytes(copying: Array(0..<32))
    let key = try PublicKey(identitySecret: secret)
    // X25519(k, 9) for this k (checked with `openssl pkey` and Python's cryptography), and its
    // text (checked with BIP 350's reference Python code): FORMATS.md §12.1 gives the example.
    XCTAssertEqual(key.bytes.hexString, "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f")
    XCTAssertEqual(key.text, "scpub13aqvttdk3ujkyjh9kg2w5an6dmy5mq5a84a4uxk3hfhnugfc9p0splz9q9")
    XCTAssertEqual(key.text.count, PublicKey.textLength)
    XCTAssertEqual(try PublicKey(text: key.text), key)
    XCTAssertEqual(try PublicKey(text: key.text.uppercased()), key)
  }

  /// Every change of one character, a swap of two neighbours, a dropped or an added character is
  /// refused: never read as another key.
  func testEveryTypoOfAPublicKeyIsRefused() throws {
    let text = try PublicKey(identitySecret: .random(count: 32)).text
    let characters = Array(text)
    let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l")
    var tried = 0
    for i in 6..<characters.count {
      for replacement in alphabet where replacement != characters[i] {
        var changed = characters
        changed[i] = replacement
        XCTAssertThrowsError(try PublicKey(text: String(changed)), String(changed))
        tried += 1
      }
      if i + 1 < characters.count && characters[i] != characters[i + 1] {
        var swapped = characters
        swapped.swapAt(i, i + 1)
        XCTAssertThrowsError(try PublicKey(text: String(swapped)))
      }
      var dropped = characters
      dropped.remove(at: i)
      XCTAssertThrowsError(try PublicKey(text: String(dropped)))
    }
    XCTAssertEqual(tried, 58 * 31)
    XCTAssertThrowsError(try PublicKey(text: text + "q"))
    XCTAssertThrowsError(try PublicKey(text: "age1" + text.dropFirst(6)))
  }

  func testTheRefusalsSayWhy() throws {
    let text = try PublicKey(identitySecret: .random(count: 32)).text
    func reason(_ candidate: String) -> String {
      do {
        _ = try PublicKey(text: candidate)
        return "accepted"
      } catch {
        return "\(error)"
      }
    }
    XCTAssertTrue(reason(String(text.dropLast(3))).contains("61 characters, not 64"))
    var typo = Array(text)
    typo[20] = typo[20] == "q" ? "p" : "q"
    XCTAssertTrue(reason(String(typo)).contains("checksum does not match"))
    XCTAssertTrue(reason("ssh-ed25519 AAAA").contains("starts with scpub1"))
    for message in [reason(String(text.dropLast(3))), reason(String(typo))] {
      XCTAssertTrue(message.hasPrefix("not a valid public key: "), message)
    }
  }

  // The points of small order of RFC 7748 / Wycheproof's X25519 cases: no identity has one, and a
  // public key text that encodes one is refused.
  func testPointsOfLowOrderAreRefused() throws {
    let lowOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]
    // The same with the top bit set (X25519 ignores it); and the table agrees with X25519 itself:
    // each gives all zeros with a random key, and a random valid key does not.
    let withTopBit = lowOrder.map { hex -> String in
      var bytes = [UInt8](hexString: hex)!
      bytes[31] |= 0x80
      return bytes.hexString
    }
    for hex in lowOrder + withTopBit {
      XCTAssertNil(try X25519PrivateKey().sharedSecret(with: [UInt8](hexString: hex)!), hex)
    }
    for _ in 0..<64 {
      let valid = try X25519PrivateKey().publicKey
      XCTAssertFalse(PublicKey.hasLowOrder(valid))
      XCTAssertNotNil(try X25519PrivateKey().sharedSecret(with: valid))
    }
    for hex in lowOrder + withTopBit {
      let bytes = [UInt8](hexString: hex)!
      XCTAssertThrowsError(try PublicKey(bytes: bytes), hex) {
        XCTAssertTrue("\($0)".contains("low order"), "\($0)")
      }
      XCTAssertThrowsError(try PublicKey(text: Bech32m.encode(prefix: PublicKey.prefix, data: bytes)), hex)
    }
  }

  func testKeygenMakesAnIdentityAndPrintsItsPublicKey() throws {
    let directory = NSTemporaryDirectory() + "identity-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let made = try ToolRunner.run("sc-keygen", ["--identity", "-C", "alice laptop", "-o", directory + "/id"])
    XCTAssertEqual(made.status, 0, made.stderr)
    let printed = String(decoding: made.stdout, as: UTF8.self)
    XCTAssertTrue(printed.hasSuffix("\n") && printed.split(separator: "\n").count == 1, printed)
    let publicText = String(printed.dropLast())
    let publicKey = try PublicKey(text: publicText)
    XCTAssertTrue(made.stderr.contains("fingerprint \(publicKey.fingerprint)"), made.stderr)

    let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/id")
    XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    let contents = try String(contentsOfFile: directory + "/id", encoding: .utf8)
    XCTAssertTrue(contents.contains("# comment: alice laptop\n# public key: \(publicText)\n"), contents)
    let key = try contents.utf8.withContiguousStorageIfAvailable { try KeyFile.parse(UnsafeRawBufferPointer($0)) }!
    XCTAssertEqual(key.type, .identity)
    XCTAssertEqual(try PublicKey(identitySecret: key.secret), publicKey)

    let shown = try ToolRunner.run("sc-keygen", ["-y", directory + "/id"])
    XCTAssertEqual(shown.status, 0, shown.stderr)
    XCTAssertEqual(String(decoding: shown.stdout, as: UTF8.self), printed)

    // Never over an existing file; -o is required (standard output is the public key).
    let again = try ToolRunner.run("sc-keygen", ["--identity", "-o", directory + "/id"])
    XCTAssertEqual(again.status, 2)
    XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
    let noOutput = try ToolRunner.run("sc-keygen", ["--identity"])
    XCTAssertEqual(noOutput.status, 2)
    XCTAssertTrue(noOutput.stderr.contains("--identity needs -o FILE"), noOutput.stderr)
    let both = try ToolRunner.run("sc-keygen", ["--identity", "--log", "-o", directory + "/x"])
    XCTAssertEqual(both.status, 2, both.stderr)

    // An identity is not a pre-shared key, and the other way round.
    let sealed = try ToolRunner.run("sc-seal", ["-k", directory + "/id"], stdin: .bytes(Data("x".utf8)))
    XCTAssertEqual(sealed.status, 2)
    XCTAssertTrue(sealed.stderr.contains("wrong key type"), sealed.stderr)
  }
}
