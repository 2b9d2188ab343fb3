import Foundation
import XCTest

@testable import SecureChatCLI

/// `--help` of every tool and of sc-chat, as the built programs print it: no line wider than 80
/// columns, every option its man page documents listed with the same short name, and (for the
/// Swift tools) every option in one of the usage lines too.
final class HelpTextTests: XCTestCase {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  struct HelpOption: Hashable, CustomStringConvertible {
    let short: Character?
    let long: String
    var description: String { "\(short.map { "-\($0), " } ?? "")--\(long)" }
  }

  /// The option lines after "options:": `  -k, --key KEYFILE  text` or `      --log LOGFILE  text`.
  /// A description that continues on the next lines is indented further, so a continuation line
  /// that happens to start with `--` is not taken for an option.
  static func helpOptions(_ text: String) -> [HelpOption] {
    var inOptions = false
    var options: [HelpOption] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line == "options:" {
        inOptions = true
        continue
      }
      guard inOptions else { continue }
      var short: Character?
      let rest: Substring
      if line.hasPrefix("  -"), !line.hasPrefix("  --"), line.dropFirst(4).hasPrefix(", --") {
        short = line.dropFirst(3).first
        rest = line.dropFirst(6)
      } else if line.hasPrefix("      --") {
        rest = line.dropFirst(6)
      } else {
        continue
      }
      guard let name = rest.split(separator: " ").first, name.count > 2 else { continue }
      options.append(HelpOption(short: short, long: String(name.dropFirst(2))))
    }
    return options
  }

  /// `--help` of a Swift tool or of a script of bin/: status 0, nothing on standard error.
  func help(of tool: String) throws -> String {
    let result: ToolResult
    if tool == "sc-chat" || tool == "sc-inbox" {
      result = try ToolRunner.runExecutable(
        Self.repository.appendingPathComponent("bin/\(tool)").path, ["--help"], stdin: .none)
    } else {
      result = try ToolRunner.run(tool, ["--help"])
    }
    XCTAssertEqual(result.status, 0, "\(tool) --help: \(result.stderr)")
    XCTAssertEqual(result.stderr, "", "\(tool) --help")
    return String(decoding: result.stdout, as: UTF8.self)
  }

  func testEveryHelpFitsIn80ColumnsAndListsEveryDocumentedOption() throws {
    for tool in ToolRunner.toolNames + ["sc-chat", "sc-inbox"] {
      let text = try help(of: tool)
      XCTAssertTrue(text.hasPrefix("usage: \(tool) "), "\(tool) --help: \(text)")
      for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        XCTAssertTrue(line.unicodeScalars.allSatisfy(\.isASCII), "\(tool) --help: not ASCII: \(line)")
        XCTAssertLessThanOrEqual(line.count, 80, "\(tool) --help: a line of \(line.count) columns: \(line)")
      }
      let page = try String(
        contentsOf: Self.repository.appendingPathComponent("man/\(tool).1"), encoding: .utf8)
      let documented = ManPageOptionTests.documentedOptions(inManPage: page).map {
        HelpOption(short: $0.short, long: $0.long)
      }
      let listed = Self.helpOptions(text)
      XCTAssertGreaterThanOrEqual(documented.count, 3, "\(tool).1: its options were found")
      XCTAssertEqual(listed.count, Set(listed).count, "\(tool) --help lists an option twice")
      XCTAssertEqual(
        Set(documented).subtracting(listed), [], "\(tool) --help leaves out options its man page documents")
      XCTAssertEqual(
        Set(listed).subtracting(documented), [], "\(tool) --help lists options its man page does not document")
    }
  }

  /// A usage line names the options of one way to run the tool; together they name every option
  /// but --help and --version.
  func testEveryOptionOfASwiftToolIsInAUsageLine() {
    for spec in ManPageOptionTests.specs {
      let words = Set(
        spec.usage.joined(separator: " ").split(whereSeparator: { " []|".contains($0) }).map(String.init))
      for option in spec.options where option.long != "help" && option.long != "version" {
        let named = words.contains("--" + option.long) || option.short.map { words.contains("-" + String($0)) } ?? false
        XCTAssertTrue(named, "\(spec.name): --\(option.long) is in none of the usage lines: \(spec.usage)")
      }
    }
  }

  /// The layout itself: long usage lines, summaries and descriptions are wrapped at word
  /// boundaries without losing a word, and a bracketed group stays on one line.
  func testLongTextIsWrappedWithoutLosingWords() {
    let long = (1...40).map { "word\($0)" }.joined(separator: " ")
    let spec = CommandSpec(
      name: "sc-test",
      usage: ["sc-test " + (1...12).map { "[--option-\($0) VALUE]" }.joined(separator: " ")],
      summary: long + "\n" + long + "\n\nsecond paragraph",
      options: [
        OptionSpec("x", "extraordinarily-long-option-name", value: "PLACEHOLDER", help: long),
        OptionSpec(nil, "short", help: "fits"),
      ],
      maxOperands: 0)
    let text = spec.helpText
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    for line in lines {
      XCTAssertLessThanOrEqual(line.count, 80, String(line))
      XCTAssertFalse(line.hasSuffix(" "), "trailing blank: \(line)")
    }
    for option in 1...12 {
      XCTAssertTrue(lines.contains { $0.contains("[--option-\(option) VALUE]") }, "option \(option) split")
    }
    XCTAssertTrue(lines[1].hasPrefix(String(repeating: " ", count: "usage: sc-test ".count) + "["), String(lines[1]))
    let expected =
      "usage: " + spec.usage[0] + " " + long + " " + long + " second paragraph options: "
      + "-x, --extraordinarily-long-option-name PLACEHOLDER " + long + " --short fits -h, --help "
      + CommandSpec.helpOption.help + " --version " + CommandSpec.versionOption.help
    XCTAssertEqual(text.split(whereSeparator: \.isWhitespace).joined(separator: " "), expected)
    XCTAssertTrue(lines.contains("  -x, --extraordinarily-long-option-name PLACEHOLDER"), text)
    XCTAssertEqual(
      Self.helpOptions(text).map(\.long), ["extraordinarily-long-option-name", "short", "help", "version"])
  }

  func testTheHelpParserSkipsContinuationLines() {
    let text = """
      usage: sc-test

      options:
        -k, --key KEYFILE     the key, with
                              --log: the log's
            --log LOGFILE     the log
      """
    XCTAssertEqual(Self.helpOptions(text), [HelpOption(short: "k", long: "key"), HelpOption(short: nil, long: "log")])
  }
}
