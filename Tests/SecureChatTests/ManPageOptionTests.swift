import Foundation
import XCTest

@testable import SecureChatCLI

/// Each tool's man page documents exactly the options its parser accepts: one `.It` line per
/// option in OPTIONS, with the same short and long names and the same need for a value.
final class ManPageOptionTests: XCTestCase {
  struct DocumentedOption: Hashable, CustomStringConvertible {
    let short: Character?
    let long: String
    let takesValue: Bool
    var description: String { "\(short.map { "-\($0), " } ?? "")--\(long)\(takesValue ? " VALUE" : "")" }
  }

  static let specs: [CommandSpec] = [
    KeygenTool.spec, SealTool.spec, OpenTool.spec, HandshakeTool.spec, LogCheckTool.spec,
  ]

  /// `.It Fl k Ar keyfile , Fl -key Ar keyfile` → (k, key, value); `.It Fl -log` → (nil, log, no value).
  static func documentedOptions(inManPage text: String) -> [DocumentedOption] {
    var inOptions = false
    var options: [DocumentedOption] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix(".Sh ") {
        inOptions = line == ".Sh OPTIONS"
        continue
      }
      guard inOptions, line.hasPrefix(".It Fl ") else { continue }
      let words = line.split(separator: " ").map(String.init)
      var short: Character?
      var long: String?
      var takesValue = false
      for (index, word) in words.enumerated() where word == "Fl" && index + 1 < words.count {
        let name = words[index + 1]
        if name.hasPrefix("-") { long = String(name.dropFirst()) } else if name.count == 1 { short = name.first }
      }
      takesValue = words.contains("Ar")
      if let long { options.append(DocumentedOption(short: short, long: long, takesValue: takesValue)) }
    }
    return options
  }

  func testEveryManPageDocumentsExactlyTheOptionsItsToolAccepts() throws {
    let manDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("man")
    for spec in Self.specs {
      let text = try String(contentsOf: manDirectory.appendingPathComponent("\(spec.name).1"), encoding: .utf8)
      let documented = Self.documentedOptions(inManPage: text)
      let accepted = spec.options.map {
        DocumentedOption(short: $0.short, long: $0.long, takesValue: $0.valueName != nil)
      }
      XCTAssertEqual(documented.count, Set(documented).count, "\(spec.name).1 lists an option twice")
      XCTAssertEqual(
        Set(documented).subtracting(accepted), [], "\(spec.name).1 documents options the tool does not accept")
      XCTAssertEqual(
        Set(accepted).subtracting(documented), [], "\(spec.name) accepts options its man page does not document")
    }
  }

  /// The parser of this test must see options, or the comparison above proves nothing.
  func testTheManPageParserFindsOptions() {
    let sample =
      ".Sh OPTIONS\n.Bl -tag\n.It Fl k Ar keyfile , Fl -key Ar keyfile\n.It Fl -log\n.El\n.Sh EXIT STATUS\n.It Fl x"
    XCTAssertEqual(
      Self.documentedOptions(inManPage: sample),
      [
        DocumentedOption(short: "k", long: "key", takesValue: true),
        DocumentedOption(short: nil, long: "log", takesValue: false),
      ])
  }
}
