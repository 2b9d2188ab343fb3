import Foundation
import SecureChatProtocol
import XCTest

/// Armor cut or extended at its edges (FORMATS.md §4.2 rules 3 and 6; issue 14, items 1–4): the
/// BEGIN line with text after it, the BEGIN line alone without its LF, a body cut inside a
/// 4-character group, and the END line cut. VectorGenerator writes them from its armored file;
/// SC_WRITE_ARMOR_VECTORS=1 writes only these, from the committed good-armored-100-bytes.
final class ArmorEdgeVectorGenerator: XCTestCase {
  func testWriteArmorEdgeVectors() throws {
    try XCTSkipUnless(
      ProcessInfo.processInfo.environment["SC_WRITE_ARMOR_VECTORS"] == "1", "set SC_WRITE_ARMOR_VECTORS=1")
    let directory = TestVector.directory + "/sealed-file"
    let good = try TestVector(path: directory + "/good-armored-100-bytes.vector")
    let key = try XCTUnwrap(good.fields["key"])
    for (name, errorClass, data) in ArmorEdgeVectors.cases(armored: good.data) {
      try TestVector.render(
        fields: [("kind", "sealed-file"), ("key", key), ("expect", "error \(errorClass)")], data: data
      ).write(toFile: "\(directory)/\(name).vector", atomically: true, encoding: .utf8)
    }
  }
}

enum ArmorEdgeVectors {
  /// `armored` is a good armored file (BEGIN line, body lines of 64 characters and a short
  /// last one, END line, each ended by LF).
  static func cases(armored: [UInt8]) -> [(name: String, errorClass: String, data: [UInt8])] {
    let lines = String(decoding: armored, as: UTF8.self).split(separator: "\n").map(String.init)
    let begin = lines[0]
    let body = lines[1..<(lines.count - 1)]
    return [
      // Rule 3: the first line is not exactly the BEGIN line: not ours, whatever follows.
      (
        "armor-begin-line-text-after", "not-sealed",
        Array((begin + " x\n" + lines[1...].joined(separator: "\n") + "\n").utf8)
      ),
      (
        "armor-begin-line-tab-after", "not-sealed",
        Array((begin + "\t\n" + lines[1...].joined(separator: "\n") + "\n").utf8)
      ),
      // Rules 2 and 6: the last line need not end in LF; the BEGIN line alone is a file cut off.
      ("armor-begin-line-only-without-lf", "truncated", Array(begin.utf8)),
      // Rule 6: a last line cut inside a 4-character group, or inside the END line, breaks rule 4.
      ("armor-cut-inside-group", "malformed", Array((begin + "\n" + body.first!.prefix(62)).utf8)),
      (
        "armor-cut-inside-end-line", "malformed",
        Array(([begin] + body + ["-----END SECURE"]).joined(separator: "\n").utf8)
      ),
      // Rule 4, one defect: the last group of the third body line is lost, so the fourth follows a
      // short line. The lines before it decode to a header that verifies and part of a frame, so
      // no check of §3 can fail first (rule 7): `malformed` for every reader.
      (
        "armor-short-line", "malformed",
        Array(
          ([begin] + body.enumerated().map { $0.offset == 2 ? String($0.element.dropLast(4)) : $0.element }
            + [lines.last!]).joined(separator: "\n").utf8) + [10]
      ),
      // Rule 7, one defect: good armor of bytes that are not a sealed file (the file without its
      // first 3 bytes, re-encoded), so §3.1 step 1 fails on the first line's bytes.
      ("armor-of-other-data", "not-sealed", reArmored(Array(Base64.decode(body.joined().utf8)!.dropFirst(3)))),
    ]
  }

  /// `bytes` in armor, as sc-seal -a writes it.
  static func reArmored(_ bytes: [UInt8]) -> [UInt8] {
    var encoder = ArmorEncoder()
    var out = encoder.header()
    bytes.withUnsafeBytes { encoder.encode($0, into: &out) }
    encoder.finish(into: &out)
    return out
  }
}
