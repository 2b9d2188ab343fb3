import XCTest

@testable import SecureChatCLI

/// What a peer's messages may do to the terminal they are shown on (sc-open -s to a terminal).
final class TerminalTextTests: XCTestCase {
  private func shown(_ bytes: [UInt8]) -> String {
    String(decoding: TerminalText.escapingControls(bytes), as: UTF8.self)
  }

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
}
