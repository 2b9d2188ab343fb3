import Foundation
import XCTest

@testable import SecureChatCLI

#if canImport(Glibc)
  import Glibc
#endif

/// The shell completions in completions/ (bash, zsh, fish), driven in the real shells: each script
/// loads without error; completing `TOOL --` and `TOOL -` offers exactly the options the tool
/// accepts (the Swift tools' option tables; sc-chat's man page, or its --help without one);
/// file-valued options complete file names and NAME/SECONDS/... values nothing; sc-chat's
/// subcommands, `pipe`'s roles and the command after `pipe ROLE` (with that command's own
/// completion) are offered.
///
/// Each completion is one shell process (killed after 20 s), loading the script the way the shell
/// finds installed ones: bash-completion's loader by command name (BASH_COMPLETION_USER_DIR),
/// zsh's compinit by `#compdef` (fpath), fish's autoloader (fish_complete_path; fish only
/// autoloads for a command on PATH, hence stub commands). HOME is a scratch directory, so no user
/// configuration takes part. zsh completes only inside its line editor: the zsh driver runs an
/// interactive zsh on a pseudo-terminal (zsh/zpty), types the line and a Tab, and prints what
/// the completion system adds (compadd replaced by one that prints instead of adding).
final class CompletionTests: XCTestCase {
  enum Shell: String, CaseIterable {
    case bash, zsh, fish
  }

  struct Option: Hashable, CustomStringConvertible {
    let short: Character?
    let long: String
    /// The placeholder (KEYFILE, NAME...), nil for a flag.
    let value: String?
    var description: String { "\(short.map { "-\($0), " } ?? "")--\(long)\(value.map { " \($0)" } ?? "")" }
  }

  struct Tool {
    let name: String
    let options: [Option]
    var longs: Set<String> { Set(options.map { "--" + $0.long }) }
    var shorts: Set<String> { Set(options.compactMap { $0.short.map { "-\($0)" } }) }
  }

  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static let swiftTools: [Tool] = ManPageOptionTests.specs.map { spec in
    Tool(name: spec.name, options: spec.options.map { Option(short: $0.short, long: $0.long, value: $0.valueName) })
  }

  /// Values that are not files: completing them offers nothing. Every other value is a file.
  static let nonFileValues: Set<String> = [
    "NAME", "SECONDS", "COMMENT", "ADDRESS", "PUBKEY", "N", "AUDITKEY", "DURATION",
  ]

  // MARK: - Where sc-chat's options come from

  /// `.It Fl k Ar keyfile , Fl -key Ar keyfile` → (k, key, KEYFILE), in the OPTIONS section.
  static func manPageOptions(_ text: String) -> [Option] {
    var inOptions = false
    var options: [Option] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix(".Sh ") {
        inOptions = line == ".Sh OPTIONS"
        continue
      }
      guard inOptions, line.hasPrefix(".It Fl ") else { continue }
      let words = line.split(separator: " ").map(String.init)
      var short: Character?
      var long: String?
      var value: String?
      for (index, word) in words.enumerated() where index + 1 < words.count {
        let next = words[index + 1]
        if word == "Fl" {
          if next.hasPrefix("-") { long = String(next.dropFirst()) } else if next.count == 1 { short = next.first }
        } else if word == "Ar" {
          value = next.uppercased()
        }
      }
      if let long { options.append(Option(short: short, long: long, value: value)) }
    }
    return options
  }

  /// `  -k, --key KEYFILE   the key` and `      --log LOGFILE  ...` lines after "options:".
  static func helpOptions(_ text: String) -> [Option] {
    var inOptions = false
    var options: [Option] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.lowercased().hasPrefix("options:") {
        inOptions = true
        continue
      }
      guard inOptions, line.first == " " else {
        if inOptions && !line.isEmpty { inOptions = false }
        continue
      }
      var rest = line.drop(while: { $0 == " " })
      var short: Character?
      if rest.count > 3, rest.first == "-", rest.dropFirst().first != "-", rest.dropFirst(2).hasPrefix(", ") {
        short = rest.dropFirst().first
        rest = rest.dropFirst(4).drop(while: { $0 == " " })
      }
      guard rest.hasPrefix("--") else { continue }
      let words = rest.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
      let long = String(words[0].dropFirst(2))
      // The value placeholder is an upper-case word right after the name.
      let value = words.count > 1 && words[1].allSatisfy({ $0.isUppercase || $0 == "_" }) ? String(words[1]) : nil
      options.append(Option(short: short, long: long, value: value))
    }
    return options
  }

  /// sc-chat's options: from man/sc-chat.1, or from `bin/sc-chat --help` while there is no man
  /// page; skips (with the reason) while neither exists.
  static func chatTool() throws -> Tool {
    let manPage = root.appendingPathComponent("man/sc-chat.1")
    if let text = try? String(contentsOf: manPage, encoding: .utf8) {
      let options = manPageOptions(text)
      guard !options.isEmpty else { throw ToolRunnerError(description: "no options found in man/sc-chat.1") }
      return Tool(name: "sc-chat", options: options)
    }
    let script = root.appendingPathComponent("bin/sc-chat").path
    guard FileManager.default.isExecutableFile(atPath: script) else {
      throw XCTSkip("neither man/sc-chat.1 nor bin/sc-chat exists yet: the sc-chat completion cases are skipped")
    }
    let result = try ToolRunner.runExecutable(script, ["--help"], stdin: .none, timeout: 20)
    let options = helpOptions(String(decoding: result.stdout, as: UTF8.self))
    guard result.status == 0, !options.isEmpty else {
      throw ToolRunnerError(description: "bin/sc-chat --help: status \(result.status), no options: \(result.stderr)")
    }
    return Tool(name: "sc-chat", options: options)
  }

  // MARK: - The sandbox the shells run in

  /// HOME, a work directory with a file to complete, stub commands on PATH, and bash-completion's
  /// user directory pointing at completions/bash.
  var sandbox = ""
  var work: String { sandbox + "/work" }

  override func setUpWithError() throws {
    var template = Array((NSTemporaryDirectory() + "/sc-completion-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw ToolRunnerError(description: "mkdtemp failed") }
    sandbox = String(cString: made)
    let fileManager = FileManager.default
    for directory in ["home", "work/subdirectory", "stubs", "bash-user"] {
      try fileManager.createDirectory(atPath: sandbox + "/" + directory, withIntermediateDirectories: true)
    }
    try Data().write(to: URL(fileURLWithPath: work + "/alice.key"))
    for tool in ToolRunner.toolNames + ["sc-chat", "sc-inbox"] {
      let path = sandbox + "/stubs/" + tool
      try Data("#!/bin/sh\nexit 0\n".utf8).write(to: URL(fileURLWithPath: path))
      guard chmod(path, 0o755) == 0 else { throw ToolRunnerError(description: "chmod \(path) failed") }
    }
    try fileManager.createSymbolicLink(
      atPath: sandbox + "/bash-user/completions", withDestinationPath: Self.root.path + "/completions/bash")
  }

  override func tearDownWithError() throws {
    if !sandbox.isEmpty { try? FileManager.default.removeItem(atPath: sandbox) }
  }

  static func executable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return (path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin"]).map { $0 + "/" + name }
      .first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  static let bashCompletion = "/usr/share/bash-completion/bash_completion"

  func shellPath(_ shell: Shell) throws -> String {
    guard let path = Self.executable(shell.rawValue) else {
      throw XCTSkip("\(shell) is not installed (scripts/install-deps.sh installs it)")
    }
    if shell == .bash && !FileManager.default.fileExists(atPath: Self.bashCompletion) {
      throw XCTSkip("bash-completion is not installed (scripts/install-deps.sh installs it)")
    }
    return path
  }

  var environment: [String: String] {
    let home = sandbox + "/home"
    return [
      "HOME": home, "XDG_CONFIG_HOME": home + "/.config", "XDG_DATA_HOME": home + "/.local/share",
      "XDG_CACHE_HOME": home + "/.cache", "BASH_COMPLETION_USER_DIR": sandbox + "/bash-user", "BASH_ENV": "",
      "ENV": "", "TERM": "dumb",
      "PATH": sandbox + "/stubs:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
    ]
  }

  func run(_ shell: Shell, _ arguments: [String], environment extra: [String: String] = [:]) throws -> ToolResult {
    try ToolRunner.runExecutable(
      shellPath(shell), arguments, stdin: .none, environment: environment.merging(extra) { $1 }, directory: work,
      timeout: 20)
  }

  // MARK: - Completing a line

  /// Sets up COMP_WORDS etc. as readline does (words split at blanks, and at `=` and `:`, which
  /// become words of their own), has bash-completion load the completion by command name, calls
  /// the function `complete -p` names, prints COMPREPLY.
  static let bashDriver = #"""
    source /usr/share/bash-completion/bash_completion || exit 3
    compopt() { builtin compopt "$@" 2>/dev/null; return 0; }  # only works in a real completion
    line=$1
    COMP_WORDS=()
    read -ra blanks <<<"$line"
    for word in "${blanks[@]}"; do
      while [[ $word =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
        [[ -n ${BASH_REMATCH[1]} ]] && COMP_WORDS+=("${BASH_REMATCH[1]}")
        COMP_WORDS+=("${BASH_REMATCH[2]}")
        word=${BASH_REMATCH[3]}
      done
      [[ -n $word ]] && COMP_WORDS+=("$word")
    done
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_LINE=$line COMP_POINT=${#line} COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    if declare -F _comp_load >/dev/null; then _comp_load -- "${COMP_WORDS[0]}"; else __load_completion "${COMP_WORDS[0]}"; fi
    spec=$(complete -p -- "${COMP_WORDS[0]}") || { echo "no completion for ${COMP_WORDS[0]}" >&2; exit 4; }
    [[ $spec =~ -F\ ([^ ]+) ]] || { echo "not a function completion: $spec" >&2; exit 4; }
    COMPREPLY=()
    "${BASH_REMATCH[1]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\n' "${COMPREPLY[@]}"
    """#

  /// $1: the completion directory; $2: the line. An interactive zsh on a pseudo-terminal loads
  /// compinit with $1 first in fpath; compadd is replaced by one that prints each match (after
  /// zsh's own matching) instead of adding it; the line and a Tab are typed; what is printed
  /// between the marks of completion's pre and post hooks is the answer.
  static let zshDriver = #"""
    zmodload zsh/zpty zsh/zselect || exit 3
    setup=$(mktemp) || exit 3
    trap 'rm -f $setup' EXIT
    cat >$setup <<'SETUP'
    PS1= PROMPT= RPROMPT=
    fpath=($SC_COMPLETION_DIR $fpath)
    autoload -Uz compinit
    # a dump per completion directory (HOME is the test's scratch directory): compinit is 4 times faster with one
    compinit -u -d "$HOME/.zcompdump${SC_COMPLETION_DIR//\//-}"
    zstyle ':completion:*' list-grouped false
    zstyle ':completion:*' insert-tab false
    bindkey '^I' complete-word
    sc_mark_begin() { print -r -- '<<sc-completion-begin>>' }
    sc_mark_end() { print -r -- '<<sc-completion-end>>'; exit 0 }
    compprefuncs=(sc_mark_begin)
    comppostfuncs=(sc_mark_end)
    compadd() {
      # calls that only ask which words match (-O, -A, -D) are passed on
      if [[ ${(j: :)@[1,(i)(-|--)]} == *-(O|A|D)* ]]; then
        builtin compadd "$@"
        return
      fi
      local -a sc_hits
      builtin compadd -A sc_hits "$@"
      local -A sc_prefix
      zparseopts -E -A sc_prefix P: p:
      local sc_hit
      for sc_hit in $sc_hits; do
        print -r -- "<<sc-match>>$IPREFIX${sc_prefix[-P]}${sc_prefix[-p]}$sc_hit"
      done
    }
    print -r -- '<<sc-ready>>'
    SETUP
    export SC_COMPLETION_DIR=$1
    typeset -F SECONDS
    deadline=$(( SECONDS + 15 ))
    zpty sc zsh -f -i
    zpty -w sc "source ${(q)setup}"
    stage=setup
    while (( SECONDS < deadline )); do
      if ! zpty -r -t sc out; then
        zselect -t 2
        continue
      fi
      out=${out//$'\r'/}
      out=${out%$'\n'}
      if [[ $stage == setup && $out == *'<<sc-ready>>'* ]]; then
        stage=completing
        zpty -w -n sc "$2"$'\t'
      elif [[ $stage == completing && $out == *'<<sc-completion-end>>'* ]]; then
        zpty -d sc
        exit 0
      elif [[ $stage == completing && $out == '<<sc-match>>'* ]]; then
        print -r -- ${out#'<<sc-match>>'}
      fi
    done
    print -u2 "zsh completion did not finish ($stage)"
    zpty -d sc
    exit 5
    """#

  /// $argv[1]: the completion directory; $argv[2]: the line.
  static let fishDriver = #"""
    set -p fish_complete_path $argv[1]
    complete --do-complete=$argv[2]
    """#

  /// What `shell` offers for `line` (the cursor at its end), in the work directory. With
  /// `directory`, the completions come from there instead of the repository's completions/.
  func complete(_ shell: Shell, _ line: String, directory: String? = nil) throws -> [String] {
    let result: ToolResult
    switch shell {
    case .bash:
      var extra: [String: String] = [:]
      if let directory {
        let user = sandbox + "/bash-user-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: user, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: user + "/completions", withDestinationPath: directory)
        extra["BASH_COMPLETION_USER_DIR"] = user
      }
      result = try run(.bash, ["-c", Self.bashDriver, "bash", line], environment: extra)
    case .zsh:
      result = try run(
        .zsh, ["-f", "-c", Self.zshDriver, "zsh", directory ?? Self.root.path + "/completions/zsh", line])
    case .fish:
      result = try run(.fish, ["-c", Self.fishDriver, directory ?? Self.root.path + "/completions/fish", line])
    }
    guard result.status == 0 else {
      throw ToolRunnerError(description: "\(shell) completing '\(line)': status \(result.status): \(result.stderr)")
    }
    // fish: "candidate<TAB>description"
    return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map {
      String($0.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)[0])
    }.filter { !$0.isEmpty }
  }

  /// The options offered for `TOOL --` and `TOOL -` compared with those the tool accepts:
  /// one message per difference (empty when they agree).
  static func optionDifferences(_ tool: Tool, shell: Shell, longs: [String], shorts: [String]) -> [String] {
    let offeredLongs = Set(longs.filter { $0.hasPrefix("--") }.map { $0.hasSuffix("=") ? String($0.dropLast()) : $0 })
    let offeredShorts = Set(shorts.filter { $0.count == 2 && $0.hasPrefix("-") && $0 != "--" })
    var differences: [String] = []
    for missing in tool.longs.subtracting(offeredLongs).sorted() {
      differences.append("\(shell): '\(tool.name) --' does not offer \(missing)")
    }
    for extra in offeredLongs.subtracting(tool.longs).sorted() {
      differences.append("\(shell): '\(tool.name) --' offers \(extra), which the tool does not accept")
    }
    for missing in tool.shorts.subtracting(offeredShorts).sorted() {
      differences.append("\(shell): '\(tool.name) -' does not offer \(missing)")
    }
    for extra in offeredShorts.subtracting(tool.shorts).sorted() {
      differences.append("\(shell): '\(tool.name) -' offers \(extra), which the tool does not accept")
    }
    return differences
  }

  func scriptPath(_ shell: Shell, _ tool: String) -> String {
    switch shell {
    case .bash: return Self.root.path + "/completions/bash/" + tool
    case .zsh: return Self.root.path + "/completions/zsh/_" + tool
    case .fish: return Self.root.path + "/completions/fish/" + tool + ".fish"
    }
  }

  // MARK: - Each script loads

  func checkScriptsLoad(_ shell: Shell, _ tools: [String]) throws {
    for tool in tools {
      let script = scriptPath(shell, tool)
      XCTAssertTrue(FileManager.default.fileExists(atPath: script), "\(script) is missing")
      let result: ToolResult
      let expected: String
      switch shell {
      case .bash:
        result = try run(
          .bash, ["-c", "source \(Self.bashCompletion) && source \"$1\" && complete -p \"$2\"", "bash", script, tool])
        expected = "complete -F _\(tool.replacingOccurrences(of: "-", with: "_")) \(tool)"
      case .zsh:
        let syntax = try run(.zsh, ["-n", script])
        XCTAssertEqual(syntax.status, 0, "zsh -n \(script): \(syntax.stderr)")
        // compinit reads the #compdef line: the function completes the tool.
        result = try run(
          .zsh,
          [
            "-f", "-c", "fpath=($1 $fpath); autoload -Uz compinit; compinit -u -D; print -r -- $_comps[$2]", "zsh",
            Self.root.path + "/completions/zsh", tool,
          ])
        expected = "_" + tool
      case .fish:
        let syntax = try run(.fish, ["--no-execute", script])
        XCTAssertEqual(syntax.status, 0, "fish --no-execute \(script): \(syntax.stderr)")
        result = try run(.fish, ["-c", "source $argv[1]; and complete -c $argv[2]", script, tool])
        expected = "complete \(tool) -l help"
      }
      let output = String(decoding: result.stdout, as: UTF8.self)
      XCTAssertEqual(result.status, 0, "\(shell) \(script): \(result.stderr)")
      XCTAssertEqual(result.stderr, "", "\(shell) \(script) writes to stderr while loading")
      XCTAssertTrue(output.contains(expected), "\(shell) \(script): \(output) lacks \(expected)")
    }
  }

  func testBashScriptsLoad() throws { try checkScriptsLoad(.bash, ToolRunner.toolNames + ["sc-chat", "sc-inbox"]) }
  func testZshScriptsLoad() throws { try checkScriptsLoad(.zsh, ToolRunner.toolNames + ["sc-chat", "sc-inbox"]) }
  func testFishScriptsLoad() throws { try checkScriptsLoad(.fish, ToolRunner.toolNames + ["sc-chat", "sc-inbox"]) }

  // MARK: - Options and their values

  func checkOptions(_ shell: Shell, _ tool: Tool) throws {
    let longs = try complete(shell, "\(tool.name) --")
    let shorts = try complete(shell, "\(tool.name) -")
    for difference in Self.optionDifferences(tool, shell: shell, longs: longs, shorts: shorts) {
      XCTFail(difference)
    }
    // A file-valued option completes the file in the work directory; a NAME or SECONDS nothing.
    for option in tool.options {
      guard let value = option.value else { continue }
      var forms = ["--\(option.long) al"]
      if let short = option.short { forms.append("-\(short) al") }
      for form in forms {
        let offered = try complete(shell, "\(tool.name) \(form)")
        if Self.nonFileValues.contains(value) {
          XCTAssertEqual(offered, [], "\(shell): '\(tool.name) \(form)' (\(value)) offers \(offered)")
        } else {
          XCTAssertEqual(offered, ["alice.key"], "\(shell): '\(tool.name) \(form)' (\(value)) should offer the file")
        }
      }
    }
  }

  func checkSwiftTools(_ shell: Shell) throws {
    XCTAssertEqual(Self.swiftTools.map(\.name), ToolRunner.toolNames)
    for tool in Self.swiftTools { try checkOptions(shell, tool) }
  }

  func testBashCompletesTheSwiftToolsOptions() throws { try checkSwiftTools(.bash) }
  func testZshCompletesTheSwiftToolsOptions() throws { try checkSwiftTools(.zsh) }
  func testFishCompletesTheSwiftToolsOptions() throws { try checkSwiftTools(.fish) }

  // MARK: - sc-inbox

  /// sc-inbox's options, from man/sc-inbox.1 (ManPageOptionTests checks it against the script).
  static func inboxTool() throws -> Tool {
    let options = manPageOptions(
      try String(contentsOf: root.appendingPathComponent("man/sc-inbox.1"), encoding: .utf8))
    guard !options.isEmpty else { throw ToolRunnerError(description: "no options found in man/sc-inbox.1") }
    return Tool(name: "sc-inbox", options: options)
  }

  func checkInbox(_ shell: Shell) throws {
    try checkOptions(shell, Self.inboxTool())
    // The operand is the inbox: a directory.
    XCTAssertEqual(
      Set(
        try complete(shell, "sc-inbox -n inbox -k alice.key sub").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
      ),
      ["subdirectory"], "\(shell): the inbox directory")
  }

  func testBashCompletesScInbox() throws { try checkInbox(.bash) }
  func testZshCompletesScInbox() throws { try checkInbox(.zsh) }
  func testFishCompletesScInbox() throws { try checkInbox(.fish) }

  // MARK: - sc-chat

  func checkChat(_ shell: Shell) throws {
    let tool = try Self.chatTool()
    try checkOptions(shell, tool)
    XCTAssertEqual(
      Set(try complete(shell, "sc-chat ")), ["listen", "connect", "pipe", "peers"], "\(shell): subcommands")
    XCTAssertEqual(
      Set(try complete(shell, "sc-chat -p alice.key peers ")), ["add", "remove"], "\(shell): peers actions")
    // The peers of the address book: after connect those with an address, after peers remove all.
    let book = "securechat-peers-v1\n# friends\nbobby 127.0.0.1 7000 b.key bob\ncarol - - c.key carol\n"
    try Data(book.utf8).write(to: URL(fileURLWithPath: work + "/book.peers"))
    let offered = try complete(shell, "sc-chat -n alice -p book.peers connect ")
    XCTAssertTrue(offered.contains("bobby"), "\(shell): the peers to connect to: \(offered)")
    XCTAssertFalse(offered.contains("carol"), "\(shell): carol has no address: \(offered)")
    XCTAssertEqual(
      Set(try complete(shell, "sc-chat -p book.peers peers remove ")), ["bobby", "carol"], "\(shell): peers to remove")
    XCTAssertEqual(Set(try complete(shell, "sc-chat -n alice -k alice.key co")), ["connect"], "\(shell)")
    XCTAssertEqual(
      Set(try complete(shell, "sc-chat -n alice --key=alice.key pipe ")), ["initiator", "responder"], "\(shell): roles")
    XCTAssertEqual(try complete(shell, "sc-chat -t 5 listen "), [], "\(shell): listen's PORT")
    // Options come before the subcommand.
    XCTAssertEqual(try complete(shell, "sc-chat listen --"), [], "\(shell): options after the subcommand")
    // After `pipe ROLE`: a command (a stub on PATH), then that command's own completion.
    XCTAssertTrue(
      try complete(shell, "sc-chat -n alice pipe initiator sc-ke").contains("sc-keygen"), "\(shell): the command")
    XCTAssertEqual(
      try complete(shell, "sc-chat -n alice pipe responder sc-seal --ke"), ["--key"],
      "\(shell): the command's arguments")
    XCTAssertEqual(
      try complete(shell, "sc-chat pipe initiator sc-seal --key al"), ["alice.key"], "\(shell): the command's files")
  }

  func testBashCompletesScChat() throws { try checkChat(.bash) }
  func testZshCompletesScChat() throws { try checkChat(.zsh) }
  func testFishCompletesScChat() throws { try checkChat(.fish) }

  // MARK: - The checks can fail

  /// A completion script that lacks an option (a copy of sc-seal's without --log-key) is caught,
  /// in each shell, by the same driver and comparison as above.
  func checkAMissingOptionIsDetected(_ shell: Shell) throws {
    _ = try shellPath(shell)
    let original = scriptPath(shell, "sc-seal")
    let directory = sandbox + "/mutant-\(shell)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    var text = try String(contentsOfFile: original, encoding: .utf8)
    let before = text
    switch shell {
    case .bash:
      // the word list given to compgen; the `case $prev` patterns stay
      text = text.replacingOccurrences(of: "--log-key -h", with: "-h")
    case .zsh:
      // the line that declares --log-key (other lines name it in their exclusion lists)
      text = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("--log-key=[") }
        .joined(separator: "\n")
    case .fish:
      text = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("-l log-key") }
        .joined(separator: "\n")
    }
    XCTAssertNotEqual(text, before, "the mutation did not change \(original)")
    try text.write(
      toFile: directory + "/" + URL(fileURLWithPath: original).lastPathComponent, atomically: true, encoding: .utf8)
    let tool = try XCTUnwrap(Self.swiftTools.first { $0.name == "sc-seal" })
    let differences = Self.optionDifferences(
      tool, shell: shell, longs: try complete(shell, "sc-seal --", directory: directory),
      shorts: try complete(shell, "sc-seal -", directory: directory))
    XCTAssertEqual(differences, ["\(shell): 'sc-seal --' does not offer --log-key"])
  }

  func testBashMissingOptionIsDetected() throws { try checkAMissingOptionIsDetected(.bash) }
  func testZshMissingOptionIsDetected() throws { try checkAMissingOptionIsDetected(.zsh) }
  func testFishMissingOptionIsDetected() throws { try checkAMissingOptionIsDetected(.fish) }

  func testTheComparisonReportsMissingAndExtraOptions() {
    let tool = Tool(
      name: "sc-x",
      options: [
        Option(short: "k", long: "key", value: "KEYFILE"), Option(short: nil, long: "log", value: nil),
      ])
    XCTAssertEqual(Self.optionDifferences(tool, shell: .bash, longs: ["--key", "--log"], shorts: ["-k", "--key"]), [])
    XCTAssertEqual(
      Self.optionDifferences(tool, shell: .zsh, longs: ["--key=", "--bogus"], shorts: ["--key"]),
      [
        "zsh: 'sc-x --' does not offer --log", "zsh: 'sc-x --' offers --bogus, which the tool does not accept",
        "zsh: 'sc-x -' does not offer -k",
      ])
  }

  func testTheOptionParsersFindOptionsAndValues() {
    let manPage = """
      .Sh SYNOPSIS
      .It Fl z
      .Sh OPTIONS
      .Bl -tag -width Ds
      .It Fl n Ar name , Fl -name Ar name
      .It Fl -log-key Ar sealkey
      .It Fl h , Fl -help
      .El
      .Sh EXIT STATUS
      """
    XCTAssertEqual(
      Self.manPageOptions(manPage),
      [
        Option(short: "n", long: "name", value: "NAME"), Option(short: nil, long: "log-key", value: "SEALKEY"),
        Option(short: "h", long: "help", value: nil),
      ])
    let help = """
      usage: sc-chat [options] listen [PORT]

      Chat with one peer -- not an option line.

      options:
        -n, --name NAME           the name to authenticate as
            --log-key SEALKEY     the log's sealing key (made by sc-keygen --log)
        -h, --help                show this help and exit
      """
    XCTAssertEqual(
      Self.helpOptions(help),
      [
        Option(short: "n", long: "name", value: "NAME"), Option(short: nil, long: "log-key", value: "SEALKEY"),
        Option(short: "h", long: "help", value: nil),
      ])
    XCTAssertEqual(Self.helpOptions(help.replacingOccurrences(of: "options:", with: "notes:")), [])
  }
}
