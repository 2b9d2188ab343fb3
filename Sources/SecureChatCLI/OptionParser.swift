#if canImport(Glibc)
  import Glibc
#endif

/// A small getopt_long-style parser.
///
/// Why not swift-argument-parser: measured here, it adds ≈ 1.2 ms to every start-up (2.7 ms vs
/// 1.5 ms for an empty tool; `age -e` takes 2.4 ms) and 15 MB to each static binary, and issue 2
/// asks for start-up within 1.5× of age's. The tools have a handful of options each; this parser
/// covers `-k FILE`, `-kFILE`, `--key FILE`, `--key=FILE`, clustered flags (`-ao out`), `--`, and
/// `-` as an operand. The option tables double as the list the man-page tests compare against.
public struct OptionSpec: Sendable {
  public let short: Character?
  public let long: String
  /// nil for a flag; the placeholder shown in usage for an option that takes a value.
  public let valueName: String?
  public let help: String
  /// May be given more than once (`-r KEY -r KEY`); every other option only once.
  public let isRepeatable: Bool

  public init(
    _ short: Character?, _ long: String, value valueName: String? = nil, repeatable: Bool = false, help: String
  ) {
    self.short = short
    self.long = long
    self.valueName = valueName
    self.isRepeatable = repeatable
    self.help = help
  }
}

public struct CommandSpec: Sendable {
  public let name: String
  public let usage: [String]
  public let summary: String
  public let options: [OptionSpec]
  public let maxOperands: Int

  public static let helpOption = OptionSpec("h", "help", help: "show this help and exit")
  public static let versionOption = OptionSpec(nil, "version", help: "show the version and exit")

  public init(name: String, usage: [String], summary: String, options: [OptionSpec], maxOperands: Int) {
    self.name = name
    self.usage = usage
    self.summary = summary
    self.options = options + [Self.helpOption, Self.versionOption]
    self.maxOperands = maxOperands
  }

  /// The widest line `--help` prints, in columns (all of it is ASCII).
  public static let helpWidth = 80

  /// `--help`: the usage lines, the summary and the options, wrapped to `helpWidth` columns. A
  /// usage line continues under its first argument and never breaks inside brackets; the summary
  /// is refilled paragraph by paragraph (blank lines part them); an option's description continues
  /// in its column.
  public var helpText: String {
    let width = Self.helpWidth
    var lines: [String] = []
    for (index, line) in usage.enumerated() {
      let lead = index == 0 ? "usage: " : "       "
      let indent = String(repeating: " ", count: lead.count + name.count + 1)
      lines += Self.wrap(Self.usageWords(line), width: width, first: lead, rest: indent)
    }
    lines.append("")
    for paragraph in summary.split(separator: "\n\n", omittingEmptySubsequences: true) {
      let words = paragraph.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
      lines += Self.wrap(words, width: width, first: "", rest: "")
      lines.append("")
    }
    lines.append("options:")
    let lefts = options.map { option in
      var left = "  " + (option.short.map { "-\($0), " } ?? "    ") + "--\(option.long)"
      if let value = option.valueName { left += " \(value)" }
      return left
    }
    // The descriptions start two columns after the longest option, but no further than column 34.
    let column = min((lefts.map(\.count).max() ?? 0) + 2, 34)
    let indent = String(repeating: " ", count: column)
    for (left, option) in zip(lefts, options) {
      let words = option.help.split(separator: " ").map(String.init)
      if left.count + 2 > column {
        lines.append(left)
        lines += Self.wrap(words, width: width, first: indent, rest: indent)
      } else {
        lines += Self.wrap(words, width: width, first: left.padding(toLength: column), rest: indent)
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The words of a usage line, a bracketed group (`[--peer-name NAME]`) counting as one word.
  static func usageWords(_ line: String) -> [String] {
    var words: [String] = []
    var word = ""
    var depth = 0
    for character in line {
      if character == " " && depth == 0 {
        if !word.isEmpty { words.append(word) }
        word = ""
        continue
      }
      if character == "[" { depth += 1 }
      if character == "]" { depth = max(depth - 1, 0) }
      word.append(character)
    }
    if !word.isEmpty { words.append(word) }
    return words
  }

  /// Greedy filling: as many words on each line as fit in `width` columns; a word longer than a
  /// line has a line of its own.
  static func wrap(_ words: [String], width: Int, first: String, rest: String) -> [String] {
    var lines: [String] = []
    var line = first
    var empty = true
    for word in words {
      if !empty && line.count + 1 + word.count > width {
        lines.append(line)
        line = rest
        empty = true
      }
      line += (empty ? "" : " ") + word
      empty = false
    }
    if !empty || lines.isEmpty { lines.append(line) }
    return lines
  }
}

extension String {
  fileprivate func padding(toLength length: Int) -> String {
    count >= length ? self : self + String(repeating: " ", count: length - count)
  }
}

public struct ParsedArguments: Sendable {
  /// Values by long name, in the order given.
  public private(set) var values: [String: [String]] = [:]
  public private(set) var flags: Set<String> = []
  public private(set) var operands: [String] = []

  public func value(_ long: String) -> String? { values[long]?.last }
  /// Every value of a repeatable option, in the order given.
  public func allValues(_ long: String) -> [String] { values[long] ?? [] }
  public func has(_ long: String) -> Bool { flags.contains(long) || values[long] != nil }

  public static func parse(_ arguments: [String], spec: CommandSpec) throws -> ParsedArguments {
    var parsed = ParsedArguments()
    var index = 0
    func take(_ option: OptionSpec, inline: String?) throws {
      if option.valueName == nil {
        if inline != nil { throw ToolError.usage("option --\(option.long) takes no value") }
        parsed.flags.insert(option.long)
        return
      }
      let value: String
      if let inline {
        value = inline
      } else {
        index += 1
        guard index < arguments.count else { throw ToolError.usage("option --\(option.long) needs a value") }
        value = arguments[index]
      }
      guard option.isRepeatable || parsed.values[option.long] == nil else {
        throw ToolError.usage("option --\(option.long) given more than once")
      }
      parsed.values[option.long, default: []].append(value)
    }
    var onlyOperands = false
    while index < arguments.count {
      let argument = arguments[index]
      if onlyOperands || argument == "-" || !argument.hasPrefix("-") {
        parsed.operands.append(argument)
      } else if argument == "--" {
        onlyOperands = true
      } else if argument.hasPrefix("--") {
        let body = argument.dropFirst(2)
        let name = body.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
        let inline = body.contains("=") ? String(body.drop(while: { $0 != "=" }).dropFirst()) : nil
        guard let option = spec.options.first(where: { $0.long == name }) else {
          throw ToolError.usage("unknown option --\(name)")
        }
        try take(option, inline: inline)
      } else {
        var letters = Substring(argument.dropFirst())
        while let letter = letters.first {
          letters = letters.dropFirst()
          guard let option = spec.options.first(where: { $0.short == letter }) else {
            throw ToolError.usage("unknown option -\(letter)")
          }
          if option.valueName != nil {
            try take(option, inline: letters.isEmpty ? nil : String(letters))
            break
          }
          try take(option, inline: nil)
        }
      }
      index += 1
    }
    if parsed.flags.contains("help") {
      print(spec.helpText, terminator: "")
      exit(ExitStatus.success.rawValue)
    }
    if parsed.flags.contains("version") {
      print("\(spec.name) \(SecureChatVersion.string)")
      exit(ExitStatus.success.rawValue)
    }
    if parsed.operands.count > spec.maxOperands {
      throw ToolError.usage("unexpected argument '\(parsed.operands[spec.maxOperands])'")
    }
    return parsed
  }
}
