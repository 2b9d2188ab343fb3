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

  /// sc-chat is a shell script: its options are the `-x | --xxx)` arms between the
  /// `# options:begin` and `# options:end` markers; an arm that takes a value says "needs a value".
  static func scriptOptions(_ script: String) -> [DocumentedOption] {
    guard let begin = script.range(of: "# options:begin\n"), let end = script.range(of: "# options:end")
    else { return [] }
    var options: [DocumentedOption] = []
    for line in script[begin.upperBound..<end.lowerBound].split(separator: "\n") {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      guard trimmed.hasPrefix("-"), let close = trimmed.firstIndex(of: ")") else { continue }
      let names = trimmed[..<close].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
      // `--)` ends the options and `-?*)` rejects the rest: neither is an option.
      guard let long = names.first(where: { $0.hasPrefix("--") && $0.count > 2 }) else { continue }
      let short = names.first { $0.count == 2 && $0.hasPrefix("-") && $0 != "--" }?.last
      options.append(
        DocumentedOption(short: short, long: String(long.dropFirst(2)), takesValue: line.contains("needs a value")))
    }
    return options
  }

  func testChatManPageDocumentsExactlyTheOptionsTheScriptAccepts() throws {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let script = try String(contentsOf: repository.appendingPathComponent("bin/sc-chat"), encoding: .utf8)
    let page = try String(contentsOf: repository.appendingPathComponent("man/sc-chat.1"), encoding: .utf8)
    let accepted = Self.scriptOptions(script)
    let documented = Self.documentedOptions(inManPage: page)
    XCTAssertGreaterThanOrEqual(accepted.count, 8, "the option arms of bin/sc-chat were found")
    XCTAssertEqual(documented.count, Set(documented).count, "sc-chat.1 lists an option twice")
    XCTAssertEqual(Set(documented).subtracting(accepted), [], "sc-chat.1 documents options sc-chat does not accept")
    XCTAssertEqual(Set(accepted).subtracting(documented), [], "sc-chat accepts options its man page does not document")

    // And the script itself agrees: every documented option is accepted (then --help stops it
    // with status 0), and a made-up one is refused with status 2.
    for option in documented where option.long != "help" && option.long != "version" {
      for spelling in ["--" + option.long] + (option.short.map { ["-" + String($0)] } ?? []) {
        let arguments = [spelling] + (option.takesValue ? ["value"] : []) + ["--help"]
        let result = try ToolRunner.runExecutable(
          repository.appendingPathComponent("bin/sc-chat").path, arguments, stdin: .none)
        XCTAssertEqual(result.status, 0, "sc-chat \(arguments): \(result.stderr)")
      }
    }
    let unknown = try ToolRunner.runExecutable(
      repository.appendingPathComponent("bin/sc-chat").path, ["--no-such-option", "--help"], stdin: .none)
    XCTAssertEqual(unknown.status, 2, unknown.stderr)
  }

  /// sc-inbox, the other script: the same comparison, and the script accepts what is documented.
  func testInboxManPageDocumentsExactlyTheOptionsTheScriptAccepts() throws {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let script = repository.appendingPathComponent("bin/sc-inbox").path
    let accepted = Self.scriptOptions(try String(contentsOfFile: script, encoding: .utf8))
    let documented = Self.documentedOptions(
      inManPage: try String(contentsOf: repository.appendingPathComponent("man/sc-inbox.1"), encoding: .utf8))
    XCTAssertGreaterThanOrEqual(accepted.count, 6, "the option arms of bin/sc-inbox were found")
    XCTAssertEqual(documented.count, Set(documented).count, "sc-inbox.1 lists an option twice")
    XCTAssertEqual(Set(documented).subtracting(accepted), [], "sc-inbox.1 documents options sc-inbox does not accept")
    XCTAssertEqual(Set(accepted).subtracting(documented), [], "sc-inbox accepts options its man page does not document")
    for option in documented where option.long != "help" && option.long != "version" {
      for spelling in ["--" + option.long] + (option.short.map { ["-" + String($0)] } ?? []) {
        let arguments = [spelling] + (option.takesValue ? ["value"] : []) + ["--help"]
        let result = try ToolRunner.runExecutable(script, arguments, stdin: .none)
        XCTAssertEqual(result.status, 0, "sc-inbox \(arguments): \(result.stderr)")
      }
    }
    let unknown = try ToolRunner.runExecutable(script, ["--no-such-option", "--help"], stdin: .none)
    XCTAssertEqual(unknown.status, 2, unknown.stderr)
  }

  func testTheScriptOptionParserFindsOptions() {
    let sample = """
      # options:begin
        -n | --name) [ $# -ge 2 ] || usage_error "$1 needs a value"; name=$2; shift 2 ;;
        --version) printf x; exit 0 ;;
        --) shift; break ;;
        -?*) usage_error "unknown option $1" ;;
      # options:end
        -z | --zzz) ;;
      """
    XCTAssertEqual(
      Self.scriptOptions(sample),
      [
        DocumentedOption(short: "n", long: "name", takesValue: true),
        DocumentedOption(short: nil, long: "version", takesValue: false),
      ])
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
