import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// `FrameVerifier.verify(frame:checkingTag: false)` leaves the tag (FORMATS.md §2.3 step 5) to a
/// `FrameTagChecker` on another core (sc-open -k). The errors must still come in §2.3's order: a
/// frame whose header fails a later step, but whose tag is bad too, is an authentication failure.
final class DeferredTagTests: XCTestCase {
  private let keys = FrameKeys(encryption: SecretBytes.random(count: 32), authentication: SecretBytes.random(count: 32))

  /// Three frames (sequence 0, 1, 2; the last final) of 20 bytes each.
  private func frames() throws -> [[UInt8]] {
    let sealer = try FrameSealer(keys: keys)
    return (0..<3).map { sealer.seal([UInt8](repeating: UInt8($0), count: 20), isFinal: $0 == 2) }
  }

  private func repairCRC(_ frame: inout [UInt8]) {
    let crc = CRC32.checksum(Array(frame[..<(frame.count - 4)]))
    for i in 0..<4 { frame[frame.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
  }

  private func verify(_ frames: [[UInt8]], checkingTag: Bool) throws {
    let verifier = try FrameVerifier(key: keys.authentication)
    for frame in frames { _ = try frame.withUnsafeBytes { try verifier.verify(frame: $0, checkingTag: checkingTag) } }
  }

  private func assertFails(
    _ frames: [[UInt8]], _ expected: String, _ what: String, line: UInt = #line
  ) {
    for checkingTag in [true, false] {
      XCTAssertThrowsError(try verify(frames, checkingTag: checkingTag), "\(what)", line: line) { error in
        XCTAssertTrue(
          "\(error)".contains(expected), "\(what), checkingTag \(checkingTag): \(error), not \(expected)", line: line)
      }
    }
  }

  func testErrorsComeInTheOrderOfChecksWhetherOrNotTheTagIsCheckedHere() throws {
    let good = try frames()
    XCTAssertNoThrow(try verify(good, checkingTag: true))
    XCTAssertNoThrow(try verify(good, checkingTag: false))

    // Authentic frames out of order: out-of-order either way.
    assertFails([good[0], good[2]], "out of order", "frame 1 dropped")
    // A forged sequence number, CRC repaired: the tag fails first (step 5 before step 7).
    var forged = good
    forged[1][11] ^= 0x01
    repairCRC(&forged[1])
    assertFails(forged, "authentication failed", "sequence number changed")
    // A forged version byte: step 5 before step 6.
    forged = good
    forged[1][0] = 9
    repairCRC(&forged[1])
    assertFails(forged, "authentication failed", "version changed")
    // Accidental damage: the CRC (step 4) comes before the tag either way.
    forged = good
    forged[1][40] ^= 0x01
    assertFails(forged, "corrupted", "ciphertext changed, CRC not repaired")
  }

  func testAFrameWhoseOnlyFaultIsItsTagPassesUntilItsTagIsChecked() throws {
    var forged = try frames()
    forged[1][40] ^= 0x01
    repairCRC(&forged[1])
    // Deferred: every other check passes, so the caller gets the frame and must check the tag.
    XCTAssertNoThrow(try verify(forged, checkingTag: false))
    let checker = try FrameTagChecker(key: keys.authentication)
    XCTAssertNoThrow(try forged[0].withUnsafeBytes { try checker.check(frame: $0) })
    XCTAssertThrowsError(try forged[1].withUnsafeBytes { try checker.check(frame: $0) }) { error in
      XCTAssertTrue("\(error)".contains("authentication failed"), "\(error)")
    }
    // A checker with another key accepts nothing.
    let other = try FrameTagChecker(key: SecretBytes.random(count: 32))
    XCTAssertThrowsError(try forged[0].withUnsafeBytes { try other.check(frame: $0) })
  }

  /// The container's rule (§2.3 step 8: only data frames in a sealed file) also waits for the tag.
  func testSealedFileRulesWaitForTheTag() throws {
    let fileKey = SecretBytes.random(count: 32)
    let sealed = try SealedFile.seal([UInt8](repeating: 7, count: 65536 + 10), fileKey: fileKey)
    // Frame 0 retyped as a receipt, CRC repaired: §3.2 would call it malformed, but its tag no
    // longer verifies, and step 5 comes first.
    let frameRange = SealedFile.headerSize..<(SealedFile.headerSize + SealedFile.fullFrameSize)
    var frame0 = Array(sealed[frameRange])
    frame0[1] = FrameType.receipt.rawValue
    repairCRC(&frame0)
    var forged = sealed
    forged.replaceSubrange(frameRange, with: frame0)
    for checkingTags in [true, false] {
      let reader = SealedFileReader(fileKey: fileKey)
      var offset = 0
      var failure: Error?
      var frames = 0
      loop: while true {
        do {
          let step = try forged.withUnsafeBytes {
            try reader.next(UnsafeRawBufferPointer(rebasing: $0[offset...]), atEnd: true, checkingTags: checkingTags)
          }
          switch step {
          case .header(let consumed), .trailer(let consumed): offset += consumed
          case .frame(let consumed, _):
            offset += consumed
            frames += 1
          case .finished, .needMoreInput: break loop
          }
        } catch {
          failure = error
          break loop
        }
      }
      XCTAssertEqual(frames, 0, "checkingTags \(checkingTags): no frame accepted")
      XCTAssertTrue(
        "\(failure.map { "\($0)" } ?? "none")".contains("authentication failed"),
        "checkingTags \(checkingTags): \(failure.map { "\($0)" } ?? "none")")
    }
  }
}
