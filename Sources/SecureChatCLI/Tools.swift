import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// The command-line tools. Each executable's main.swift only calls `runTool` with one of these,
/// so the option tables live here, where the tests can compare them with the man pages.
public enum KeygenTool {
  public static let spec = CommandSpec(
    name: "sc-keygen",
    usage: [
      "sc-keygen [-C COMMENT] [-o FILE]", "sc-keygen --identity -o FILE [-C COMMENT]",
      "sc-keygen --log -o SEALKEY --verify-key VERIFYKEY [-C COMMENT]",
      "sc-keygen --log --public -o SEALKEY [-C COMMENT]", "sc-keygen -y FILE",
    ],
    summary:
      "Create a pre-shared key, an identity or a log key pair; print an identity's public key or a key's fingerprint.",
    options: [
      OptionSpec("C", "comment", value: "COMMENT", help: "add a comment line to the new key file"),
      OptionSpec("o", "output", value: "FILE", help: "write the key to FILE (created 0600, never overwritten)"),
      OptionSpec(
        "y", "fingerprint", value: "FILE",
        help: "print an identity's public key, or the fingerprint of a key or of public keys"),
      OptionSpec(nil, "identity", help: "create an identity (-o); its public key goes to standard output"),
      OptionSpec(nil, "log", help: "create a log key pair: the sealing key (-o) and the verification key"),
      OptionSpec(nil, "verify-key", value: "VERIFYKEY", help: "with --log: where to write the verification key"),
      OptionSpec(
        nil, "public", help: "with --log: a public log: signing key (-o), audit key on standard output"),
    ],
    maxOperands: 0)

  public static func run(_ arguments: [String]) throws {
    let options = try ParsedArguments.parse(arguments, spec: spec)
    if let path = options.value("fingerprint") {
      guard !options.has("output"), !options.has("comment") else {
        throw ToolError.usage("-y cannot be combined with -o or -C")
      }
      try StandardDescriptors.requireOpen(.standardOutput)
      switch try KeyLoader.loadKeyOrPublicKeys(path) {
      case .key(let key):
        switch key.type {
        case .identity: print(try PublicKey(identitySecret: key.secret).text)
        // Its audit key: the seed it holds now can no longer give it.
        case .logSign: print(try AuditKey(bytes: key.auditKey!).text)
        default: print(key.fingerprint)
        }
      case .publicKeys(let keys):
        // As ssh-keygen -l: the fingerprint of each key, to compare with its owner.
        for key in keys { print("\(key.fingerprint) \(key.text)") }
      }
      return
    }
    let comment = options.value("comment")
    if let comment, comment.contains(where: { $0.isNewline }) {
      throw ToolError.usage("the comment must be a single line")
    }
    guard !(options.has("log") && options.has("identity")) else {
      throw ToolError.usage("--identity and --log make different keys: choose one")
    }
    if options.has("log") {
      return try options.has("public")
        ? makePublicLogKey(options, comment: comment) : makeLogKeyPair(options, comment: comment)
    }
    if options.has("public") { throw ToolError.usage("--public goes with --log") }
    if options.has("identity") {
      return try makeIdentity(options, comment: comment)
    }
    if options.has("verify-key") { throw ToolError.usage("--verify-key goes with --log") }
    let key = KeyFile.Key(type: .psk, secret: SecretBytes.random(count: KeyFile.keySize))
    let contents = KeyFile.serialize(key, comment: comment)
    if let path = options.value("output"), path != "-" {
      try createKeyFile(path, contents)
    } else {
      try StandardDescriptors.requireOpen(.standardOutput)
      if FileDescriptor.standardOutput.isTerminal {
        Diagnostics.warning("writing a secret key to the terminal; use -o FILE to keep it off the screen")
      }
      try contents.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
    }
    Diagnostics.info("fingerprint \(key.fingerprint)")
  }

  /// A log key pair (FORMATS.md §1.2, §9.3): a random first key K0, written twice: as the
  /// verification key, and as the sealing key at entry 0 (which the writer then evolves).
  private static func makeLogKeyPair(_ options: ParsedArguments, comment: String?) throws {
    guard let sealPath = options.value("output"), OutputTarget.descriptorNumber(sealPath) == nil else {
      throw ToolError.usage("--log needs -o SEALKEY (a file: the writer rewrites it after every entry)")
    }
    guard let verifyPath = options.value("verify-key"), OutputTarget.descriptorNumber(verifyPath) == nil else {
      throw ToolError.usage("--log needs --verify-key VERIFYKEY (a file)")
    }
    guard sealPath != verifyPath else { throw ToolError.usage("the two keys need two different files") }
    let first = SecretBytes.random(count: KeyFile.keySize)
    let verify = KeyFile.Key(type: .logVerify, secret: first)
    let seal = KeyFile.Key(
      type: .logSeal, secret: first,
      logPosition: KeyFile.LogPosition(nextIndex: 0, previousTag: SessionLog.initialPreviousTag))
    let createdVerifyKey = try createKeyFile(verifyPath, KeyFile.serialize(verify, comment: comment))
    do {
      try createKeyFile(sealPath, KeyFile.serialize(seal, comment: comment))
    } catch {
      if createdVerifyKey { unlink(verifyPath) }
      throw error
    }
    Diagnostics.info("log verification key fingerprint \(verify.fingerprint)")
    Diagnostics.info("keep \(verifyPath) secret and off this host: it can check the log, and forge it")
  }

  /// A public log's signing key (FORMATS.md §9.8): a random Ed25519 seed at entry 0 and
  /// checkpoint 0, in the key file the writers rewrite; the audit key, its public key, on
  /// standard output for the auditor (not secret).
  private static func makePublicLogKey(_ options: ParsedArguments, comment: String?) throws {
    guard let path = options.value("output"), path != "-", OutputTarget.descriptorNumber(path) == nil else {
      throw ToolError.usage("--log --public needs -o SEALKEY (a file: the writers rewrite it after every entry)")
    }
    if options.has("verify-key") {
      throw ToolError.usage("--public makes no verification key: the audit key goes to standard output")
    }
    try StandardDescriptors.requireOpen(.standardOutput)
    let seed = SecretBytes.random(count: KeyFile.keySize)
    let audit = try AuditKey(seed: seed)
    let key = KeyFile.Key(
      type: .logSign, secret: seed,
      logPosition: KeyFile.LogPosition(nextIndex: 0, previousTag: SessionLog.initialPreviousTag),
      checkpointPosition: CheckpointPosition(epoch: 0, sealedCount: 0, time: 0), auditKey: audit.bytes)
    try createKeyFile(path, KeyFile.serialize(key, comment: comment))
    print(audit.text)
    Diagnostics.info("audit key fingerprint \(audit.fingerprint)")
    Diagnostics.info("give the audit key to the auditor: sc-logcheck -p AUDITKEY checks the log, and cannot forge it")
  }

  /// An identity (FORMATS.md §12): a random X25519 secret in the key file, its public key on
  /// standard output, so that `sc-keygen --identity -o id >id.pub` keeps both.
  private static func makeIdentity(_ options: ParsedArguments, comment: String?) throws {
    guard let path = options.value("output"), path != "-" else {
      throw ToolError.usage("--identity needs -o FILE (standard output carries the public key)")
    }
    if options.has("verify-key") { throw ToolError.usage("--verify-key goes with --log") }
    try StandardDescriptors.requireOpen(.standardOutput)
    let key = KeyFile.Key(type: .identity, secret: SecretBytes.random(count: KeyFile.keySize))
    let publicKey = try PublicKey(identitySecret: key.secret)
    let lines = [comment.map { "comment: \($0)" }, "public key: \(publicKey.text)"].compactMap { $0 }
    try createKeyFile(path, KeyFile.serialize(key, commentLines: lines))
    print(publicKey.text)
    Diagnostics.info("fingerprint \(publicKey.fingerprint)")
  }

  /// Writes a new key file (OutputTarget's rules): created exclusively with mode 0600 and never
  /// over an existing file, nor through a symbolic link or into a fifo named by its path; or
  /// written to a descriptor the user named (/dev/fd/N) or a device such as /dev/null. Returns
  /// true if it created a file (which the caller may have to remove again).
  @discardableResult
  private static func createKeyFile(_ path: String, _ contents: SecretBytes) throws -> Bool {
    let exists = ToolError(
      "\(path) already exists", hints: ["sc-keygen never overwrites a key; remove it or pick another name"])
    let target = try OutputTarget(checking: path, what: "key file")
    let fd: FileDescriptor
    var isNewFile = false
    if let direct = try target.openDescriptorOrDevice(path, what: "key file") {
      fd = direct
    } else if case .missing = target,
      let created = try OutputTarget.createNew(path, what: "key file", flags: O_WRONLY)
    {
      fd = created
      isNewFile = true
    } else {
      throw exists
    }
    defer { fd.close() }
    do {
      try contents.withUnsafeBytes { try fd.writeAll($0) }
      guard fsync(fd.rawValue) == 0 || errno == EINVAL else { throw ToolError.system("cannot write \(path)") }
    } catch {
      if isNewFile { unlink(path) }
      throw error
    }
    return isNewFile
  }
}

/// Options and checks shared by sc-seal and sc-open: a key file (`-k`, sealed files) or a
/// session (`-s`, live streams), an input, and an output.
struct StreamToolSetup {
  enum Secret {
    case key(KeyFile.Key)
    case session(OneWaySession)
    /// sc-seal -r/-R (FORMATS.md §12.2): the recipients, and with -i the sender's identity.
    case recipients([PublicKey], sender: RecipientFile.Identity?)
    /// sc-open -i: the identity, and with --from the sender the file must come from.
    case identity(RecipientFile.Identity, expectedSender: PublicKey?)

    var isSession: Bool {
      if case .session = self { return true }
      return false
    }
  }

  let secret: Secret
  /// The one-use mark of a session file, made by `run` before anything is sent or shown.
  let claim: SessionClaim?
  let input: FileDescriptor
  let output: OutputFile
  let outputPath: String?
  /// The input as named on the command line; "-" for standard input.
  let inputPath: String

  /// `direction`: the keys of a session this tool uses (sc-seal sends, sc-open receives).
  init(
    _ options: ParsedArguments, direction: OneWaySession.Direction, outputMode: mode_t, refuseBinaryTerminal: Bool,
    armored: Bool = false
  ) throws {
    let keyPath = options.value("key")
    let sessionPath = options.value("session")
    let identityPath = options.value("identity")
    let recipientKeys = options.allValues("recipient")
    let recipientFiles = options.allValues("recipients-file")
    let toRecipients = !recipientKeys.isEmpty || !recipientFiles.isEmpty
    // sc-seal's -i names the sender of a file sealed to -r/-R; sc-open's -i is what opens it.
    let opensWithIdentity = direction == .receive && identityPath != nil
    let modes = [
      keyPath.map { _ in "-k" }, sessionPath.map { _ in "-s" }, toRecipients ? "-r/-R" : nil,
      opensWithIdentity ? "-i" : nil,
    ].compactMap { $0 }
    if identityPath != nil && direction == .send && !toRecipients {
      throw ToolError.usage("-i (the sender's identity) goes with -r or -R")
    }
    if modes.isEmpty {
      throw ToolError.usage(
        direction == .send
          ? "a key file (-k KEYFILE), recipients (-r PUBKEY, -R FILE) or a session (-s SESSIONFILE) is needed"
          : "a key file (-k KEYFILE), an identity (-i IDENTITY) or a session (-s SESSIONFILE) is needed")
    }
    if modes.count > 1 {
      // FORMATS.md §12.2: a file is sealed with a pre-shared key or to recipients, never both.
      throw ToolError.usage(
        modes.contains("-k") && (toRecipients || opensWithIdentity)
          ? "\(modes[0]) and \(modes[1]) cannot be mixed: a file is sealed either with a key file or to recipients"
          : "\(modes[0]) and \(modes[1]) cannot be used together")
    }
    if options.has("from") && identityPath == nil { throw ToolError.usage("--from goes with -i IDENTITY") }
    if sessionPath != nil && armored { throw ToolError.usage("-a is for sealed files, not sessions") }
    if sessionPath == nil && options.has("binary") { throw ToolError.usage("--binary is for sessions (-s)") }
    inputPath = options.operands.first ?? "-"
    if (keyPath ?? sessionPath ?? identityPath) == "-" && inputPath == "-" {
      throw ToolError.usage("the key and the input cannot both be standard input")
    }
    if recipientFiles.contains("-") && (inputPath == "-" || identityPath == "-") {
      throw ToolError.usage("the recipients file and the input or the identity cannot both be standard input")
    }
    outputPath = options.value("output")
    // Before any file is opened or anything is read: a closed standard descriptor is an error.
    if inputPath == "-" { try StandardDescriptors.requireOpen(.standardInput) }
    if outputPath == nil || outputPath == "-" { try StandardDescriptors.requireOpen(.standardOutput) }
    if refuseBinaryTerminal && outputPath == nil && FileDescriptor.standardOutput.isTerminal {
      throw ToolError(
        "refusing to write binary output to a terminal",
        hints: [sessionPath == nil ? "use -a for text output, -o FILE, or -o - to force it" : "use -o - to force it"])
    }
    if let keyPath {
      secret = .key(try KeyLoader.load(keyPath, expecting: .psk))
      claim = nil
    } else if toRecipients {
      let recipients = try RecipientLoader.load(keys: recipientKeys, files: recipientFiles)
      let sender = try identityPath.map {
        try RecipientFile.Identity(secret: KeyLoader.load($0, expecting: .identity).secret)
      }
      secret = .recipients(recipients, sender: sender)
      claim = nil
    } else if let identityPath {
      let expectedSender = try options.value("from").map { try PublicKey(text: $0.trimmingSpaces) }
      let identity = try RecipientFile.Identity(secret: KeyLoader.load(identityPath, expecting: .identity).secret)
      secret = .identity(identity, expectedSender: expectedSender)
      claim = nil
    } else {
      let (session, claim) = try SessionLoader.load(sessionPath!, direction: direction)
      secret = .session(session)
      self.claim = claim
    }
    if inputPath == "-" {
      input = .standardInput
    } else {
      let raw = open(inputPath, O_RDONLY | O_CLOEXEC | O_NOCTTY)
      guard raw >= 0 else { throw ToolError.system("cannot read \(inputPath)") }
      input = FileDescriptor(rawValue: raw)
      // A directory opens but cannot be read: refuse it now, before a header is written.
      var info = stat()
      if fstat(raw, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
        throw ToolError("cannot read \(inputPath): it is a directory")
      }
    }
    output = try OutputFile(path: outputPath, mode: outputMode)
  }

  /// Claims the session file's direction, once every option has been checked and the input
  /// and output are open (a usage error does not use up the session), then runs `body`; on any
  /// failure removes a temporary output before the error is reported (the process exits without
  /// running deinitialisers).
  func run(_ body: () throws -> Void) throws {
    do {
      try claim?.take()
      try body()
      try output.commit()
    } catch let error as ToolError {
      output.abandon()
      // A failed read(2) of the input names it (writes name their output in OutputFile).
      throw error.naming(inputPath == "-" ? "standard input" : inputPath, reads: true, writes: false)
    } catch {
      output.abandon()
      throw error
    }
  }
}

let keyOption = OptionSpec(
  "k", "key", value: "KEYFILE", help: "the pre-shared key, for sealed files (- for stdin)")
let recipientOption = OptionSpec(
  "r", "recipient", value: "PUBKEY", repeatable: true, help: "seal to this public key (repeat for more recipients)")
let recipientsFileOption = OptionSpec(
  "R", "recipients-file", value: "FILE", repeatable: true, help: "seal to the public keys in FILE, one per line")
let sessionOption = OptionSpec("s", "session", value: "SESSIONFILE", help: "a live session written by sc-handshake")
let outputOption = OptionSpec("o", "output", value: "OUTPUT", help: "write to OUTPUT instead of standard output")
let logOption = OptionSpec(nil, "log", value: "LOGFILE", help: "with -s: append an entry per message to LOGFILE")
let logKeyOption = OptionSpec(nil, "log-key", value: "SEALKEY", help: "the log's sealing key (made by sc-keygen --log)")

/// `--log LOGFILE --log-key SEALKEY`, for session mode only.
func sessionLogger(_ options: ParsedArguments, _ setup: StreamToolSetup) throws -> SessionLogger? {
  switch (options.value("log"), options.value("log-key")) {
  case (nil, nil): return nil
  case (.some(let logPath), .some(let keyPath)):
    guard case .session(let session) = setup.secret else { throw ToolError.usage("--log is for sessions (-s)") }
    let appender = try LogAppender(logPath: logPath, keyPath: keyPath, policy: try CheckpointPolicy(options))
    if !appender.isPublic {
      for option in ["checkpoint-entries", "checkpoint-seconds", "checkpoints-to"] where options.has(option) {
        throw ToolError.usage(
          "--\(option) is for a public log: \(keyPath) is a log-seal key, whose log has no checkpoints")
      }
    }
    return SessionLogger(appender: appender, session: session)
  default: throw ToolError.usage("--log and --log-key go together")
  }
}

public enum SealTool {
  public static let spec = CommandSpec(
    name: "sc-seal",
    usage: [
      "sc-seal -k KEYFILE [-a] [-o OUTPUT] [INPUT]",
      "sc-seal -r PUBKEY [-r PUBKEY]... [-R FILE]... [-i IDENTITY] [-a] [-o OUTPUT] [INPUT]",
      "sc-seal -s SESSIONFILE [--binary] [--receipts-from FILE] [--log LOGFILE --log-key SEALKEY]"
        + " [-o OUTPUT] [INPUT]",
      "sc-seal --check-log --log LOGFILE --log-key SEALKEY",
      "sc-seal -s ... --log LOGFILE --log-key SIGNKEY [--checkpoint-entries N] [--checkpoint-seconds SECONDS]"
        + " [--checkpoints-to FILE]",
    ],
    summary: """
      Encrypt and authenticate INPUT (default: standard input): into a sealed file with -k (a
      pre-shared key) or -r/-R (recipients' public keys; -i names the sender), or into a session stream with -s (one frame per line, or per chunk with --binary; a final frame at the end).
      """,
    options: [
      keyOption, recipientOption, recipientsFileOption,
      OptionSpec("i", "identity", value: "IDENTITY", help: "with -r/-R: seal as this identity (authenticated sender)"),
      OptionSpec("a", "armor", help: "write text: base64 between BEGIN and END lines"),
      sessionOption,
      OptionSpec(nil, "binary", help: "with -s: send raw input as it comes instead of line by line"),
      OptionSpec(
        nil, "receipts-from", value: "FILE",
        help: "with -s: send a receipt for each message number read from FILE (sc-open --receipts-to)"),
      outputOption, logOption, logKeyOption,
    ] + CheckpointPolicy.options + [
      OptionSpec(
        nil, "check-log",
        help: "check that LOGFILE can be appended to with SEALKEY and exit (sc-chat, before it dials)")
    ],
    maxOperands: 1)

  public static func run(_ arguments: [String]) throws {
    let options = try ParsedArguments.parse(arguments, spec: spec)
    if options.has("check-log") { return try checkLog(options) }
    let armored = options.has("armor")
    let setup = try StreamToolSetup(
      options, direction: .send, outputMode: 0o666, refuseBinaryTerminal: !armored, armored: armored)
    if case .session = setup.secret { ignoreBrokenPipeSignal() }
    let logger = try sessionLogger(options, setup)
    let receiptsPath = options.value("receipts-from")
    if receiptsPath != nil && !setup.secret.isSession {
      throw ToolError.usage("--receipts-from is for sessions (-s)")
    }
    try setup.run {
      switch setup.secret {
      case .key(let key):
        try FileSealing.seal(input: setup.input, output: setup.output, secret: .preSharedKey(key), armored: armored)
      case .recipients(let recipients, let sender):
        try FileSealing.seal(
          input: setup.input, output: setup.output, secret: .recipients(recipients, sender: sender), armored: armored)
      case .identity: preconditionFailure("sc-seal has no identity to open with")
      case .session(let session):
        // Opened without waiting, before anything is read or sent.
        let receipts = try receiptsPath.map { try ReceiptInput(path: $0) }
        try SessionSealing.run(
          input: setup.input, output: setup.output.fd, session: session, binary: options.has("binary"), logger: logger,
          receipts: receipts)
      }
    }
  }
}

extension SealTool {
  /// `--check-log`: a log that cannot take the session's entries is found before a connection is
  /// made, not after the peer has been shown a verification code.
  static func checkLog(_ options: ParsedArguments) throws {
    guard let logPath = options.value("log"), let keyPath = options.value("log-key") else {
      throw ToolError.usage("--check-log needs --log LOGFILE and --log-key SEALKEY")
    }
    let others = spec.options.map(\.long).filter { !["log", "log-key", "check-log"].contains($0) && options.has($0) }
    guard others.isEmpty, options.operands.isEmpty else {
      throw ToolError.usage("--check-log takes only --log and --log-key")
    }
    try LogAppender(logPath: logPath, keyPath: keyPath).check()
  }
}

public enum OpenTool {
  public static let spec = CommandSpec(
    name: "sc-open",
    usage: [
      "sc-open -k KEYFILE [-o OUTPUT] [INPUT]",
      "sc-open -i IDENTITY [--from PUBKEY] [-o OUTPUT] [INPUT]",
      "sc-open -s SESSIONFILE [--escape] [--receipts-to FILE] [--delivered FILE]"
        + " [--log LOGFILE --log-key SEALKEY] [-o OUTPUT] [INPUT]",
      "sc-open -s ... --log LOGFILE --log-key SIGNKEY [--checkpoint-entries N] [--checkpoint-seconds SECONDS]"
        + " [--checkpoints-to FILE]",
    ],
    summary: """
      Verify and decrypt a sealed file (binary or armored) with -k, or with -i if it was sealed to
      recipients, or a session stream with -s; nothing unauthenticated is ever written.
      """,
    options: [
      keyOption,
      OptionSpec("i", "identity", value: "IDENTITY", help: "open a file sealed to recipients with this identity"),
      OptionSpec(nil, "from", value: "PUBKEY", help: "with -i: fail unless the file was sealed by PUBKEY"),
      sessionOption, outputOption,
      OptionSpec(
        nil, "escape", help: "with -s: show control and bidi characters as ^X, \\xNN, \\uNNNN even through a pipe"),
      OptionSpec(
        nil, "receipts-to", value: "FILE",
        help: "with -s: write the number of each message to FILE once it is shown (for sc-seal --receipts-from)"),
      OptionSpec(
        nil, "delivered", value: "FILE",
        help: "with -s: write the message numbers the peer's receipts acknowledge to FILE"
      ),
      logOption, logKeyOption,
    ] + CheckpointPolicy.options,
    maxOperands: 1)

  public static func run(_ arguments: [String]) throws {
    let options = try ParsedArguments.parse(arguments, spec: spec)
    let setup = try StreamToolSetup(options, direction: .receive, outputMode: 0o600, refuseBinaryTerminal: false)
    let logger = try sessionLogger(options, setup)
    if options.has("escape") && !setup.secret.isSession { throw ToolError.usage("--escape is for sessions (-s)") }
    let receiptsToPath = options.value("receipts-to")
    let deliveredPath = options.value("delivered")
    if receiptsToPath != nil || deliveredPath != nil {
      guard case .session = setup.secret else {
        throw ToolError.usage("\(receiptsToPath != nil ? "--receipts-to" : "--delivered") is for sessions (-s)")
      }
      // A receipt says that the message was shown: not for a file that appears only at the end.
      if receiptsToPath != nil && setup.output.isDeferred {
        throw ToolError.usage("--receipts-to needs output that shows each message as it arrives, not a regular file")
      }
      // A reader of these lines that has gone is not an error (PROTOCOL.md §6.5).
      ignoreBrokenPipeSignal()
    }
    var sender = SealedFileReader.Sender.keyHolder
    try setup.run {
      switch setup.secret {
      case .key(let key):
        try FileOpening.open(
          input: setup.input, output: setup.output, opener: .preSharedKey(key.secret),
          refuseBinaryOnTerminal: setup.outputPath == nil)
      case .identity(let identity, let expectedSender):
        sender = try FileOpening.open(
          input: setup.input, output: setup.output, opener: .identity(identity, expectedSender: expectedSender),
          refuseBinaryOnTerminal: setup.outputPath == nil)
      case .recipients: preconditionFailure("sc-open has no recipients")
      case .session(let session):
        // Opened before the first frame is read: a fifo waits here for its reader.
        let receiptsTo = try receiptsToPath.map { try NumberLines(path: $0, option: "--receipts-to") }
        let delivered = try deliveredPath.map { try NumberLines(path: $0, option: "--delivered") }
        try SessionOpening.run(
          input: setup.input, output: setup.output, session: session, logger: logger,
          escapeControls: options.has("escape"), receiptsTo: receiptsTo, delivered: delivered)
      }
    }
    // FORMATS.md §12.2 step 6, once everything verified (and a regular output file is in place).
    switch sender {
    case .claimed(let key, proved: true): Diagnostics.info("sealed by \(key.text) (fingerprint \(key.fingerprint))")
    case .anonymous: Diagnostics.info("the sender is anonymous")
    default: break
    }
  }
}
