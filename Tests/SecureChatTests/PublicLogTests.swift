import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The public log at unit level (docs/FORMATS.md §9.8): Ed25519 against RFC 8032, the audit key's
/// text, the writer's state against the verifier, forward security against a thief of the key
/// file, and the `log-sign` key file. No tool runs here (PublicLogVectorGenerator.swift does).
final class PublicLogTests: XCTestCase {
  private func bytes(_ hex: String) -> [UInt8] { [UInt8](hexString: hex)! }

  // MARK: - Ed25519 (RFC 8032 §7.1)

  func testEd25519RFC8032TestVectors() throws {
    let cases: [(secret: String, publicKey: String, message: String, signature: String)] = [
      (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
          + "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
      ),
      (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
          + "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
      ),
    ]
    for (number, test) in cases.enumerated() {
      let name = "RFC 8032 test \(number + 1)"
      let signer = try Ed25519SigningKey(seed: SecretBytes(copying: bytes(test.secret)))
      XCTAssertEqual(signer.publicKey, bytes(test.publicKey), name)
      let message = test.message.isEmpty ? [] : bytes(test.message)
      let signature = try signer.sign(message)
      XCTAssertEqual(signature, bytes(test.signature), name)
      let key = try XCTUnwrap(Ed25519PublicKey(rawRepresentation: bytes(test.publicKey)), name)
      XCTAssertTrue(key.isValidSignature(signature, for: message), name)
      // Any bit of the signature flipped, the message changed, another key: refused.
      for bit in [0, 7, 255, 256, 511] {
        var flipped = signature
        flipped[bit / 8] ^= 1 << (bit % 8)
        XCTAssertFalse(key.isValidSignature(flipped, for: message), "\(name): signature bit \(bit)")
      }
      XCTAssertFalse(key.isValidSignature(signature, for: message + [0]), "\(name): a byte more")
      if !message.isEmpty {
        XCTAssertFalse(key.isValidSignature(signature, for: [message[0] ^ 0x01]), "\(name): message bit")
      }
      XCTAssertFalse(key.isValidSignature(Array(signature.dropLast()), for: message), "\(name): short signature")
      XCTAssertFalse(key.isValidSignature([], for: message), "\(name): no signature")
      let other = try XCTUnwrap(Ed25519PublicKey(rawRepresentation: bytes(cases[1 - number].publicKey)))
      XCTAssertFalse(other.isValidSignature(signature, for: message), "\(name): the other key")
    }
    // Signing is deterministic (RFC 8032 §5.1.6): the same seed and message, the same signature.
    let signer = try Ed25519SigningKey(seed: SecretBytes(copying: bytes(cases[1].secret)))
    XCTAssertEqual(try signer.sign([0x72]), try signer.sign([0x72]))
    XCTAssertNil(Ed25519PublicKey(rawRepresentation: [UInt8](repeating: 1, count: 31)))
    XCTAssertNil(Ed25519PublicKey(rawRepresentation: [UInt8](repeating: 1, count: 33)))
  }

  /// A non-canonical S (S + ℓ) is refused, as OpenSSL checks it (RFC 8032 §5.1.7 step 1): the
  /// same signature in another spelling must not pass.
  func testEd25519RefusesNonCanonicalS() throws {
    let key = try XCTUnwrap(
      Ed25519PublicKey(rawRepresentation: bytes("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")))
    var signature = bytes(
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        + "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    XCTAssertTrue(key.isValidSignature(signature, for: [0x72]))
    // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let order = bytes("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
    var carry = 0
    for i in 0..<32 {
      let sum = Int(signature[32 + i]) + Int(order[i]) + carry
      signature[32 + i] = UInt8(sum & 0xff)
      carry = sum >> 8
    }
    XCTAssertEqual(carry, 0)
    XCTAssertFalse(key.isValidSignature(signature, for: [0x72]))
  }

  // MARK: - audit keys (§9.8.1)

  func testAuditKeyTextRoundTripAndRefusals() throws {
    let key = try PublicLogVectors.auditKey()
    let text = key.text
    XCTAssertEqual(text.count, 66)
    XCTAssertTrue(text.hasPrefix("scaudit1"))
    XCTAssertEqual(text, text.lowercased())
    XCTAssertEqual(try AuditKey(text: text), key)
    XCTAssertEqual(try AuditKey(text: text.uppercased()), key, "either case, not mixed")
    XCTAssertEqual(key.bytes, try Ed25519SigningKey(seed: SecretBytes(copying: PublicLogVectors.seed0)).publicKey)
    XCTAssertTrue(key.fingerprint.hasPrefix("SHA256:"))
    XCTAssertNotEqual(
      key.fingerprint, key.bytes.withUnsafeBytes { KeyFile.fingerprint(typeName: "identity", keyBytes: $0) },
      "the type name is part of the fingerprint")

    func refused(_ candidate: String, _ why: String) {
      XCTAssertThrowsError(try AuditKey(text: candidate), why) { error in
        guard case ProtocolError.badPublicKey = error else { return XCTFail("\(why): \(error)") }
      }
    }
    refused(String(text.dropLast()), "cut by one character")
    refused(String(text.dropLast(10)), "cut short")
    refused(text + "q", "a character more")
    refused("", "empty")
    // Each position mistyped (one character replaced by another of the alphabet): the checksum.
    let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l")
    var characters = Array(text)
    for position in 8..<characters.count {
      let original = characters[position]
      characters[position] = alphabet[(alphabet.firstIndex(of: original)! + 1) % alphabet.count]
      refused(String(characters), "position \(position) mistyped")
      characters[position] = original
    }
    // Two neighbours swapped.
    characters.swapAt(20, 21)
    if characters[20] != characters[21] { refused(String(characters), "two characters swapped") }
    refused(String(text.prefix(8)) + String(text.dropFirst(8)).uppercased(), "mixed case")
    refused("scpub1" + text.dropFirst("scaudit1".count), "another prefix")
    // An identity's public key (prefix scpub) is not an audit key, even with a valid checksum.
    refused(Bech32m.encode(prefix: "scpub", data: key.bytes), "the prefix of an identity's key")
    XCTAssertThrowsError(try AuditKey(bytes: Array(key.bytes.dropLast())))
  }

  /// OpenSSL takes any 32 bytes as an Ed25519 public key, also one off the curve (y = 2 has no
  /// x): such an audit key is read, and nothing verifies under it.
  func testAnAuditKeyOffTheCurveVerifiesNothing() throws {
    var offCurve = [UInt8](repeating: 0, count: 32)
    offCurve[0] = 2
    guard let key = try? AuditKey(bytes: offCurve) else { return }  // refused: better still
    let lines = try PublicLogVectors.seal(Array(PublicLogVectors.items()[0..<3]), state: PublicLogVectors.freshState())
    let (defect, verifier) = PublicLogVectors.verify(PublicLogVectors.join(lines), auditKey: key)
    XCTAssertEqual(defect?.kind, .forged)
    XCTAssertEqual(defect?.line, 3)
    XCTAssertEqual(verifier.epoch, 0)
  }

  // MARK: - writer and verifier

  func testWriterStateAndVerifierAgree() throws {
    let state = PublicLogVectors.freshState()
    let items = PublicLogVectors.items()
    var lines: [[UInt8]] = []
    var checkpointIndexes: [UInt64] = []
    for item in items {
      let before = state.nextIndex
      lines += try PublicLogVectors.seal([item], state: state)
      if case .checkpoint = item {
        checkpointIndexes.append(before)
        XCTAssertEqual(state.checkpoint.epoch, UInt64(checkpointIndexes.count))
        XCTAssertEqual(state.checkpoint.sealedCount, before + 1)
        XCTAssertEqual(state.unsealedCount, 0)
      }
    }
    XCTAssertEqual(state.nextIndex, UInt64(items.count))
    XCTAssertEqual(state.unsealedCount, 2)
    let log = PublicLogVectors.join(lines)
    let (defect, verifier) = PublicLogVectors.verify(log, auditKey: try PublicLogVectors.auditKey())
    XCTAssertNil(defect)
    XCTAssertEqual(verifier.nextIndex, state.nextIndex)
    XCTAssertEqual(verifier.previousTag, state.previousTag)
    XCTAssertEqual(verifier.epoch, state.checkpoint.epoch)
    XCTAssertEqual(verifier.unsealedCount, 2)
    XCTAssertEqual(verifier.newestCheckpoint?.index, checkpointIndexes.last)
    XCTAssertEqual(verifier.newestCheckpoint?.lineNumber, Int(checkpointIndexes.last!) + 1)
    XCTAssertEqual(verifier.newestCheckpoint?.time, PublicLogVectors.time(9))
    XCTAssertEqual(verifier.openDirections.count, 1, "the second session's receiving direction is open")
    XCTAssertNotNil(
      ReferencePublicLog.verify(log, auditKey: try PublicLogVectors.auditKey().bytes, seed0: PublicLogVectors.seed0))

    // The seed evolved at every checkpoint exactly as §9.8.1 says, and the key file's seed
    // never is an earlier one.
    var seed = PublicLogVectors.seed0
    for _ in checkpointIndexes {
      seed = SHA256.hash(Array("SecureChat v1 log signing key evolution".utf8) + seed)
    }
    XCTAssertEqual(state.seed.copyForTesting(), seed)

    // A writer finishing an interrupted append (§9.8.3) moves past each line as it was written,
    // checkpoints included; and refuses a checkpoint its seed did not sign.
    let catchingUp = PublicLogVectors.freshState()
    for line in lines {
      try line.withUnsafeBytes { raw in
        let parsed = try LogLine(raw, lineNumber: 0)
        if parsed.kind == .checkpoint {
          XCTAssertTrue(try catchingUp.advance(pastCheckpoint: parsed, unixTime: 1))
        } else {
          catchingUp.advance(pastEntryWithTag: parsed.tag)
        }
      }
    }
    XCTAssertEqual(catchingUp.previousTag, state.previousTag)
    XCTAssertEqual(catchingUp.checkpoint.epoch, state.checkpoint.epoch)
    XCTAssertEqual(catchingUp.checkpoint.sealedCount, state.checkpoint.sealedCount)
    XCTAssertTrue(catchingUp.seed.constantTimeEquals(state.seed))
    let stranger = PublicLogState(
      seed: SecretBytes(copying: [UInt8](repeating: 0x42, count: 32)), nextIndex: 0,
      previousTag: SessionLog.initialPreviousTag, checkpoint: CheckpointPosition(epoch: 0, sealedCount: 0, time: 0))
    for line in lines[0..<2] {
      try line.withUnsafeBytes { stranger.advance(pastEntryWithTag: try LogLine($0, lineNumber: 0).tag) }
    }
    try lines[2].withUnsafeBytes { raw in
      XCTAssertFalse(try stranger.advance(pastCheckpoint: try LogLine(raw, lineNumber: 0), unixTime: 1))
    }
    XCTAssertEqual(stranger.checkpoint.epoch, 0, "a refused checkpoint moves nothing")
  }

  func testCheckpointTextIsParsedStrictly() throws {
    let lines = try PublicLogVectors.seal(
      Array(PublicLogVectors.items()[0..<3]), state: PublicLogVectors.freshState())
    let good = String(decoding: lines[2].dropLast(65), as: UTF8.self)
    let text = String(good[good.range(of: "next ")!.lowerBound...])
    func parses(_ candidate: String) -> Bool {
      Array(candidate.utf8).withUnsafeBytes { PublicLog.CheckpointText($0) != nil }
    }
    XCTAssertTrue(parses(text))
    XCTAssertFalse(parses(String(text.dropLast())), "cut")
    XCTAssertFalse(parses(text + "0"), "a digit more")
    XCTAssertFalse(parses(text.uppercased()), "upper case")
    XCTAssertFalse(parses(text.replacingOccurrences(of: "next ", with: "next  ")), "two spaces")
    XCTAssertFalse(parses(text.replacingOccurrences(of: " signature ", with: " signatur  ")), "another word")
    XCTAssertFalse(parses(text.replacingOccurrences(of: "next ", with: "Next ")), "another word")
    var notHex = Array(text)
    notHex[10] = "g"
    XCTAssertFalse(parses(String(notHex)), "not hex")
  }

  // MARK: - forward security (§9.8.6)

  /// A checkpoint line made by hand (what a thief can do): signed with `signer`, certifying `next`.
  private func checkpointLine(
    index: UInt64, second: Int, epoch: UInt64, next: [UInt8], previousTag: [UInt8], signer: [UInt8]
  ) throws -> [UInt8] {
    var body = Array(
      "\(index) \(PublicLogVectors.time(second)) checkpoint - - \(epoch) next \(next.hexString) signature ".utf8)
    let signature = try Ed25519SigningKey(seed: SecretBytes(copying: signer)).sign(
      Array("SecureChat v1 log checkpoint".utf8) + previousTag + body)
    body += Array(signature.hexString.utf8)
    let tag = body.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: previousTag) }
    return body + Array(" \(tag.hexString)".utf8)
  }

  private func evolve(_ seed: [UInt8]) -> [UInt8] {
    SHA256.hash(Array("SecureChat v1 log signing key evolution".utf8) + seed)
  }

  private func publicKey(_ seed: [UInt8]) throws -> [UInt8] {
    try Ed25519SigningKey(seed: SecretBytes(copying: seed)).publicKey
  }

  /// `lines` from `start` on rewritten by someone holding only `seeds` (the thief's): entries
  /// rechained, every checkpoint re-signed with `signerFor(epoch)`, certifying `nextFor(epoch)`.
  private func rewrite(
    _ lines: [[UInt8]], from start: Int, signerFor: (UInt64) -> [UInt8], nextFor: (UInt64) throws -> [UInt8]
  ) throws -> [[UInt8]] {
    var out = Array(lines[0..<start])
    var previous = start == 0 ? SessionLog.initialPreviousTag : PublicLogVectors.tag(of: out.last!)
    for line in lines[start...] {
      let fields = String(decoding: line, as: UTF8.self).split(separator: " ")
      if fields[2] == "checkpoint" {
        let epoch = UInt64(fields[5])!
        let second = Int(fields[1].dropFirst(17).prefix(2))!
        out.append(
          try checkpointLine(
            index: UInt64(fields[0])!, second: second, epoch: epoch, next: try nextFor(epoch), previousTag: previous,
            signer: signerFor(epoch)))
      } else {
        let body = Array(line.dropLast(65))
        let tag = body.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: previous) }
        out.append(body + Array(" \(tag.hexString)".utf8))
      }
      previous = PublicLogVectors.tag(of: out.last!)
    }
    return out
  }

  func testAThiefOfTheKeyFileCannotRewriteWhatCheckpointsSealed() throws {
    let auditKey = try PublicLogVectors.auditKey()
    let items = PublicLogVectors.items()
    // The log up to checkpoint k = 2 (line 8), then the theft: the key file holds seed(3), its
    // position and the audit key; a copy is all the thief has.
    let state = PublicLogVectors.freshState()
    let lines = try PublicLogVectors.seal(Array(items[0..<8]), state: state)
    XCTAssertEqual(state.checkpoint.epoch, 3)
    let stolen = state.seed.copyForTesting()
    let stolenPosition = (state.nextIndex, state.previousTag, state.checkpoint)
    var seeds = [PublicLogVectors.seed0]
    for _ in 0..<8 { seeds.append(evolve(seeds.last!)) }
    XCTAssertEqual(stolen, seeds[3])
    XCTAssertNil(PublicLogVectors.verify(PublicLogVectors.join(lines), auditKey: auditKey).defect)

    // What the thief can sign with: the stolen seed and any seed after it (all he can compute).
    let thiefSeeds = (0..<5).map { n in (0..<n).reduce(stolen) { seed, _ in evolve(seed) } }
    // Entries to rewrite: one between checkpoints 1 and 2 (line 7, sealed by checkpoint 2) and one
    // before checkpoint 1 (line 4, sealed by checkpoints 1 and 2).
    for (editedLine, firstCheckpointAfter) in [(7, 8), (4, 6)] {
      var edited = lines
      edited[editedLine - 1] = PublicLogVectors.replacing(
        edited[editedLine - 1], editedLine == 7 ? "caf" : "a backslash", editedLine == 7 ? "cab" : "a backslasH")
      // Rechained only: the checkpoint after it no longer verifies.
      let rechained = PublicLogVectors.rechain(edited)
      let rechainedDefect = PublicLogVectors.verify(PublicLogVectors.join(rechained), auditKey: auditKey).defect
      XCTAssertEqual(rechainedDefect?.kind, .forged, "line \(editedLine) rechained")
      XCTAssertEqual(rechainedDefect?.line, firstCheckpointAfter, "line \(editedLine) rechained")
      // The control: with the seeds he does not hold, the same rewriting verifies.
      let withRealSeeds = try rewrite(
        edited, from: min(editedLine - 1, 5), signerFor: { epoch in seeds[Int(epoch)] },
        nextFor: { epoch in try self.publicKey(seeds[Int(epoch) + 1]) })
      XCTAssertNil(
        PublicLogVectors.verify(PublicLogVectors.join(withRealSeeds), auditKey: auditKey).defect,
        "line \(editedLine): re-signed with seed(1) and seed(2)")
      // Every checkpoint from the edited entry on re-signed with what he holds, or from
      // checkpoint k − 1 = 1 (line 6) on; certifying either the real next keys (so that the chain
      // of certification looks intact) or his own.
      for start in Set([editedLine - 1, min(editedLine - 1, 5)]).sorted() {
        let firstResigned = start <= 5 ? 6 : 8
        for (n, signer) in thiefSeeds.enumerated() {
          for certifyOwn in [false, true] {
            let forged = try rewrite(
              edited, from: start, signerFor: { _ in signer },
              nextFor: { epoch in
                certifyOwn ? try self.publicKey(self.evolve(signer)) : try self.publicKey(seeds[Int(epoch) + 1])
              })
            let defect = PublicLogVectors.verify(PublicLogVectors.join(forged), auditKey: auditKey).defect
            let what = "line \(editedLine), from line \(start + 1), seed(3+\(n)), own next \(certifyOwn)"
            XCTAssertEqual(defect?.kind, .forged, "\(what): \(String(describing: defect))")
            XCTAssertEqual(defect?.line, firstResigned, what)
          }
        }
      }
      // The stolen seed passed off as the old key: checkpoint 0 (line 3), which certified
      // pk(1), re-signed by the thief certifying his own key, and everything after it made to
      // follow: checkpoint 0 itself is checked with the audit key, and fails.
      let fromStart = try rewrite(
        edited, from: 2, signerFor: { epoch in thiefSeeds[Int(epoch)] },
        nextFor: { epoch in try self.publicKey(thiefSeeds[Int(epoch) + 1]) })
      let fromStartDefect = PublicLogVectors.verify(PublicLogVectors.join(fromStart), auditKey: auditKey).defect
      XCTAssertEqual(fromStartDefect?.kind, .forged, "line \(editedLine), the whole chain of keys replaced")
      XCTAssertEqual(fromStartDefect?.line, 3, "line \(editedLine), the whole chain of keys replaced")
    }
    // Nor can he drop the last checkpoint and sign it again after a change (his seed is seed(3)).
    var dropped = Array(lines[0..<7])
    dropped[6] = PublicLogVectors.replacing(dropped[6], "caf", "cab")
    dropped = PublicLogVectors.rechain(dropped)
    let resigned = try checkpointLine(
      index: 7, second: 8, epoch: 2, next: try publicKey(seeds[3]), previousTag: PublicLogVectors.tag(of: dropped[6]),
      signer: stolen)
    let droppedDefect = PublicLogVectors.verify(PublicLogVectors.join(dropped + [resigned]), auditKey: auditKey).defect
    XCTAssertEqual(droppedDefect?.kind, .forged)
    XCTAssertEqual(droppedDefect?.line, 8)

    // The documented limit (§9.8.6): from the stolen key file he can append entries and sign
    // checkpoint 3 and later, and they verify.
    let thief = PublicLogState(
      seed: SecretBytes(copying: stolen), nextIndex: stolenPosition.0, previousTag: stolenPosition.1,
      checkpoint: stolenPosition.2)
    let appended = try PublicLogVectors.seal(
      [
        .entry(
          LogEntry(
            time: PublicLogVectors.time(20), kind: .sent, sessionID: PublicLogVectors.sessionID,
            peer: Array("bob".utf8), sequence: 4, text: Array("written by the thief".utf8))),
        .checkpoint(second: 21),
      ], state: thief)
    let (defect, verifier) = PublicLogVectors.verify(PublicLogVectors.join(lines + appended), auditKey: auditKey)
    XCTAssertNil(defect, "the thief's appended checkpoint verifies: the documented limit")
    XCTAssertEqual(verifier.newestCheckpoint?.epoch, 3)
    XCTAssertEqual(verifier.newestCheckpoint?.index, 9)
    XCTAssertEqual(appended.count, 2)
  }

  // MARK: - the log-sign key file (§1.2)

  func testLogSignKeyFileRoundTripAndRefusals() throws {
    let seed = (0..<32).map { UInt8(0x80 | $0) }
    let audit = try PublicLogVectors.auditKey().bytes
    let tag = (0..<32).map { UInt8(truncatingIfNeeded: 0x11 &* $0) }
    let key = KeyFile.Key(
      type: .logSign, secret: SecretBytes(copying: seed),
      logPosition: KeyFile.LogPosition(nextIndex: 12, previousTag: tag),
      checkpointPosition: CheckpointPosition(epoch: 4, sealedCount: 10, time: 1_796_416_509), auditKey: audit)
    let file = KeyFile.serialize(key).copyForTesting()
    let text = String(decoding: file, as: UTF8.self)
    XCTAssertTrue(text.hasPrefix("# SecureChat log signing key."))
    let line = "securechat-key-v1 log-sign \(seed.hexString) 12 \(tag.hexString) 4 10 1796416509 \(audit.hexString)"
    XCTAssertTrue(text.hasSuffix("\n" + line + "\n"), text)
    let parsed = try file.withUnsafeBytes { try KeyFile.parse($0) }
    XCTAssertEqual(parsed.type, .logSign)
    XCTAssertEqual(parsed.secret.copyForTesting(), seed)
    XCTAssertEqual(parsed.logPosition, key.logPosition)
    XCTAssertEqual(parsed.checkpointPosition, key.checkpointPosition)
    XCTAssertEqual(parsed.auditKey, audit)
    XCTAssertEqual(parsed.fingerprint, key.fingerprint)
    // A new key (sc-keygen --log --public): nothing sealed, no checkpoint yet.
    let fresh =
      "securechat-key-v1 log-sign \(seed.hexString) 0 \(SessionLog.initialPreviousTag.hexString) 0 0 0 \(audit.hexString)"
    let freshKey = try Array(fresh.utf8).withUnsafeBytes { try KeyFile.parse($0) }
    XCTAssertEqual(freshKey.checkpointPosition, CheckpointPosition(epoch: 0, sealedCount: 0, time: 0))

    func refused(_ candidate: String, _ why: String) {
      XCTAssertThrowsError(try Array(candidate.utf8).withUnsafeBytes { try KeyFile.parse($0) }, why) { error in
        guard case ProtocolError.invalidKeyFile = error else { return XCTFail("\(why): \(error)") }
      }
    }
    func with(_ field: Int, _ value: String) -> String {
      var fields = line.split(separator: " ").map(String.init)
      fields[field] = value
      return fields.joined(separator: " ")
    }
    refused(String(line.dropLast(65)), "no audit key")
    refused(line + " 0", "a field more")
    refused("securechat-key-v1 log-sign \(seed.hexString) 12 \(tag.hexString)", "as a log-seal key")
    refused(with(5, "04"), "checkpoint number with a leading zero")
    refused(with(5, "-1"), "negative checkpoint number")
    refused(with(5, "x"), "checkpoint number not a number")
    refused(with(5, "18446744073709551616"), "checkpoint number too large")
    refused(with(6, "13"), "more entries sealed than written")
    refused(with(6, ""), "empty count of sealed entries")
    refused(with(7, "1e9"), "checkpoint time not a number")
    refused(with(7, "01796416509"), "checkpoint time with a leading zero")
    refused(with(8, String(audit.hexString.dropLast())), "audit key 63 digits")
    refused(with(8, audit.hexString + "00"), "audit key 66 digits")
    refused(with(8, "g" + audit.hexString.dropFirst()), "audit key not hex")
    refused(with(4, String(tag.hexString.dropLast(2))), "short previous tag")
    refused(with(2, String(seed.hexString.dropLast(2))), "short seed")
    // Positions no writer leaves: none written but some sealed; fewer entries sealed than
    // checkpoints written (each checkpoint is an entry).
    refused(
      "securechat-key-v1 log-sign \(seed.hexString) 5 \(tag.hexString) 0 3 1796416509 \(audit.hexString)",
      "entries sealed by no checkpoint")
    refused(
      "securechat-key-v1 log-sign \(seed.hexString) 9 \(tag.hexString) 5 1 1796416509 \(audit.hexString)",
      "five checkpoints within one entry")
    // A checkpoint written (epoch 1) but nothing sealed: impossible.
    refused(
      "securechat-key-v1 log-sign \(seed.hexString) 5 \(tag.hexString) 1 0 1796416509 \(audit.hexString)",
      "a checkpoint that seals nothing")
    // Extra fields on a log-seal key, none on a log-sign key.
    refused(
      "securechat-key-v1 log-seal \(seed.hexString) 12 \(tag.hexString) 4 10 1796416509 \(audit.hexString)",
      "log-seal with checkpoint fields")
    refused("securechat-key-v1 log-sign \(seed.hexString)", "log-sign without fields")
  }

  /// §9.8.3: a checkpoint has no session and no peer; a signed one with either is malformed.
  func testACheckpointWithASessionOrPeerIsMalformed() throws {
    let seed = SecretBytes(copying: Array(0..<32))
    let state = PublicLogState(
      seed: seed, nextIndex: 0, previousTag: SessionLog.initialPreviousTag,
      checkpoint: CheckpointPosition(epoch: 0, sealedCount: 0, time: 0))
    let good = try state.sealCheckpoint(time: PublicLogVectors.time(1), unixTime: 1)
    let auditKey = try AuditKey(seed: seed)
    for (from, to) in [(" checkpoint - - 0 ", " checkpoint - bob 0 "), (" checkpoint - - 0 ", " checkpoint 00 - 0 ")] {
      // Signed and chained as the writer would, with the other field: only the rule refuses it.
      var body = Array(String(decoding: good.dropLast(66), as: UTF8.self).replacingOccurrences(of: from, with: to).utf8)
      body.removeLast(128)
      let signature = try Ed25519SigningKey(seed: seed).sign(
        Array("SecureChat v1 log checkpoint".utf8) + SessionLog.initialPreviousTag + body)
      body += Array(signature.hexString.utf8)
      let tag = body.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: SessionLog.initialPreviousTag) }
      let line = body + Array(" \(tag.hexString)".utf8)
      let verifier = PublicLogVerifier(auditKey: auditKey)
      XCTAssertThrowsError(try line.withUnsafeBytes { try verifier.verify(line: $0, lineNumber: 1, nextLine: nil) }) {
        XCTAssertEqual(($0 as? LogDefect)?.kind, .malformed, to)
      }
    }
    let verifier = PublicLogVerifier(auditKey: auditKey)
    try Array(good.dropLast()).withUnsafeBytes { try verifier.verify(line: $0, lineNumber: 1, nextLine: nil) }
    XCTAssertEqual(verifier.newestCheckpoint?.epoch, 0)
  }
}
