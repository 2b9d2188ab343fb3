import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatCLI
@testable import SecureChatProtocol

/// What a peer's messages may do to the terminal they are shown on (sc-open -s to a terminal).
final class TerminalTextTests: XCTestCase {
  private func shown(_ bytes: [UInt8]) -> String {
    String(decoding: TerminalText.escapingControls(bytes), as: UTF8.self)
  }

  private func shown(_ text: String) -> String { shown(Array(text.utf8)) }

  /// The Unicode bidirectional formatting characters and the line and paragraph separators
  /// (docs/PROTOCOL.md §6.3), each with the form it must be shown as.
  static let bidiAndSeparators: [(scalar: Unicode.Scalar, shown: String)] = [
    ("\u{061C}", "\\u061c"),  // ARABIC LETTER MARK
    ("\u{200E}", "\\u200e"),  // LEFT-TO-RIGHT MARK
    ("\u{200F}", "\\u200f"),  // RIGHT-TO-LEFT MARK
    ("\u{2028}", "\\u2028"),  // LINE SEPARATOR
    ("\u{2029}", "\\u2029"),  // PARAGRAPH SEPARATOR
    ("\u{202A}", "\\u202a"),  // LEFT-TO-RIGHT EMBEDDING
    ("\u{202B}", "\\u202b"),  // RIGHT-TO-LEFT EMBEDDING
    ("\u{202C}", "\\u202c"),  // POP DIRECTIONAL FORMATTING
    ("\u{202D}", "\\u202d"),  // LEFT-TO-RIGHT OVERRIDE
    ("\u{202E}", "\\u202e"),  // RIGHT-TO-LEFT OVERRIDE
    ("\u{2066}", "\\u2066"),  // LEFT-TO-RIGHT ISOLATE
    ("\u{2067}", "\\u2067"),  // RIGHT-TO-LEFT ISOLATE
    ("\u{2068}", "\\u2068"),  // FIRST STRONG ISOLATE
    ("\u{2069}", "\\u2069"),  // POP DIRECTIONAL ISOLATE
  ]

  func testTextAndUTF8PassThrough() {
    XCTAssertEqual(shown(Array("hello\tworld\n".utf8)), "hello\tworld\n")
    XCTAssertEqual(shown(Array("grüße €5 😀\n".utf8)), "grüße €5 😀\n")
  }

  func testC0ControlsAndDeleteAreShownAsCaretNotation() {
    XCTAssertEqual(shown([0x1b, UInt8(ascii: "["), UInt8(ascii: "2"), UInt8(ascii: "J")]), "^[[2J")
    XCTAssertEqual(shown([0x07, 0x0d, 0x7f, 0x00]), "^G^M^?^@")
  }

  func testC1ControlsAndInvalidUTF8AreShownAsHex() {
    XCTAssertEqual(shown([0xc2, 0x9b, UInt8(ascii: "2"), UInt8(ascii: "J")]), "\\xc2\\x9b2J")  // U+009B, CSI
    XCTAssertEqual(shown([0x9b]), "\\x9b")  // a raw C1 byte
    XCTAssertEqual(shown([0xc0, 0xaf]), "\\xc0\\xaf")  // overlong
    XCTAssertEqual(shown([0xed, 0xa0, 0x80]), "\\xed\\xa0\\x80")  // surrogate
    XCTAssertEqual(shown([0xe2, 0x82]), "\\xe2\\x82")  // cut short
    XCTAssertEqual(shown([0xc2, 0xa0]), "\u{a0}")  // U+00A0 is text
  }

  /// A right-to-left override (U+202E) makes a terminal that implements the bidirectional
  /// algorithm show the rest of the line backwards ("txt.exe" as "exe.txt"); the isolates,
  /// embeddings and marks reorder text too, and the separators are line ends to some terminals.
  /// Each is shown as `\u` and four lowercase hex digits, wherever it is in the line.
  func testBidiControlsAndSeparatorsAreShownAsCodePoints() {
    for (scalar, escaped) in Self.bidiAndSeparators {
      let c = String(Character(scalar))
      XCTAssertEqual(shown(c), escaped, "U+\(String(scalar.value, radix: 16)) alone")
      XCTAssertEqual(shown(c + "abc\n"), escaped + "abc\n", "at the start of a line")
      XCTAssertEqual(shown("ab" + c + "cd\n"), "ab" + escaped + "cd\n", "in the middle of a line")
      XCTAssertEqual(shown("abc" + c + "\n"), "abc" + escaped + "\n", "at the end of a line")
      XCTAssertEqual(shown("abc" + c), "abc" + escaped, "at the end of the message")
      XCTAssertEqual(shown(c + c), escaped + escaped, "twice")
    }
    // The classic: a file name that reads "txt.exe" backwards.
    XCTAssertEqual(shown("invoice\u{202E}fdp.exe\n"), "invoice\\u202efdp.exe\n")
  }

  /// Right-to-left scripts are text: Hebrew and Arabic letters, and characters whose encoding is
  /// next to a formatting character's, pass unchanged; only the formatting characters themselves
  /// are escaped, also when they sit between multibyte characters.
  func testRightToLeftTextAndNeighboursPassUnchanged() {
    let hebrew = "שלום עולם"
    let arabic = "مرحبا بالعالم؛"  // ends with U+061B, ARABIC SEMICOLON (d8 9b), next to U+061C
    XCTAssertEqual(shown(hebrew + "\n"), hebrew + "\n")
    XCTAssertEqual(shown(arabic + "\n"), arabic + "\n")
    XCTAssertEqual(shown(hebrew + "\u{202E}" + arabic + "\n"), hebrew + "\\u202e" + arabic + "\n")
    XCTAssertEqual(shown(arabic + "\u{061C}" + hebrew), arabic + "\\u061c" + hebrew)
    XCTAssertEqual(shown("é\u{2067}é\u{2069}😀"), "é\\u2067é\\u2069😀")
    // Neighbours of the escaped ranges, and the joiners that emoji sequences need.
    for text in [
      "\u{061B}", "\u{061D}", "\u{200B}", "\u{200C}", "\u{200D}", "\u{2027}", "\u{202F}", "\u{2065}", "\u{206A}",
      "👩\u{200D}💻", "\u{FEFF}",
    ] {
      XCTAssertEqual(shown(text), text, "U+\(String(text.unicodeScalars.first!.value, radix: 16)) is text")
    }
    // An encoding of U+202E cut short is invalid UTF-8, byte by byte as before.
    XCTAssertEqual(shown([0xe2, 0x80]), "\\xe2\\x80")
    XCTAssertEqual(shown([0xe2, 0x80, UInt8(ascii: "a")]), "\\xe2\\x80a")
  }

  /// End to end: a message sealed with `sc-seal -s` and opened with `sc-open -s --escape` (as
  /// sc-chat does, through a pipe) shows every formatting character escaped; without --escape,
  /// on a pipe, the message is written unchanged; on a terminal it is escaped without asking.
  func testSCOpenEscapeShowsBidiControlsEscaped() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-bidi-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let aliceToBob = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
    let bobToAlice = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
    try ToolRunner.writeSessionPair(in: directory, aliceToBob: aliceToBob, bobToAlice: bobToAlice)
    let lines = Self.bidiAndSeparators.map { "start \(String(Character($0.scalar))) end\n" }
    let message = "\u{202E}שלום مرحبا\u{2066}x\u{2069}\n" + lines.joined()
    let expected =
      "\\u202eשלום مرحبا\\u2066x\\u2069\n" + Self.bidiAndSeparators.map { "start \($0.shown) end\n" }.joined()

    let sealed = try ToolRunner.run("sc-seal", ["-s", directory + "/alice.session"], stdin: .bytes(Data(message.utf8)))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    // Each run of sc-open -s claims its direction of the file it is given (PROTOCOL.md §5): one copy each.
    let escaped = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(directory + "/bob.session"), "--escape"],
      stdin: .bytes(sealed.stdout))
    XCTAssertEqual(escaped.status, 0, escaped.stderr)
    XCTAssertEqual(String(decoding: escaped.stdout, as: UTF8.self), expected)
    for (scalar, _) in Self.bidiAndSeparators {
      XCTAssertFalse(
        String(decoding: escaped.stdout, as: UTF8.self).unicodeScalars.contains(scalar),
        "U+\(String(scalar.value, radix: 16)) reached the output")
    }

    let plain = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(directory + "/bob.session")], stdin: .bytes(sealed.stdout))
    XCTAssertEqual(plain.status, 0, plain.stderr)
    XCTAssertEqual(plain.stdout, Data(message.utf8), "a pipe without --escape gets the message unchanged")

    let streamPath = directory + "/stream"
    XCTAssertTrue(FileManager.default.createFile(atPath: streamPath, contents: sealed.stdout))
    if let terminal = try ToolRunner.runOnTerminal(
      "sc-open", ["-s", try ToolRunner.sessionCopy(directory + "/bob.session")], stdinPath: streamPath,
      stderrPath: directory + "/err")
    {
      XCTAssertEqual(terminal.status, 0, terminal.stderr)
      XCTAssertEqual(String(decoding: terminal.stdout, as: UTF8.self), expected, "a terminal gets them escaped")
    }
  }
}
