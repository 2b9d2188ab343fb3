import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-handshake`: runs docs/PROTOCOL.md §3 over standard input (from the peer) and standard
/// output (to the peer), then writes the session file.
public enum HandshakeTool {
  public static let spec = CommandSpec(
    name: "sc-handshake",
    usage: [
      "sc-handshake --initiator|--responder -k KEYFILE -n NAME -o SESSIONFILE [--peer-name NAME]"
        + " [--timeout SECONDS]",
      "sc-handshake --responder --peers PEERSFILE -n NAME -o SESSIONFILE [--timeout SECONDS]",
      "sc-handshake --initiator|--responder -i IDENTITY [-k KEYFILE] -n NAME -o SESSIONFILE"
        + " [--peer-key PUBKEY | --known-peers FILE [--accept-new]] [--peer-name NAME]",
      "sc-handshake --responder -i IDENTITY [-k KEYFILE] --peers PEERSFILE -n NAME -o SESSIONFILE",
      "sc-handshake ... [--continue-from CONTFILE] [--continuation-to CONTFILE]",
      "sc-handshake ... [--log LOGFILE --log-key SEALKEY [--peer-address ADDRESS]]",
    ],
    summary: """
      Authenticate the peer on standard input/output with the pre-shared key (ephemeral X25519 and
      mutual HMAC-SHA256 challenge-response), then write the session keys to SESSIONFILE. With
      --peers, the responder accepts any peer of the peers file and learns from the handshake
      which one connected. --continuation-to keeps what a later handshake needs to prove that it
      continues this session; --continue-from requires that proof (initiator) or reports whether it
      was given (responder). With -i, each side proves its identity instead (protocol version 2),
      and the peer's public key must be --peer-key, the one pinned for its name in the known
      peers file, or (--peers) one of the peers file's public keys (-k then adds a pre-shared key
      as a second secret).
      """,
    options: [
      OptionSpec(nil, "initiator", help: "speak first (the side that connects)"),
      OptionSpec(nil, "responder", help: "answer (the side that listens)"),
      OptionSpec("k", "key", value: "KEYFILE", help: "the pre-shared key file (a path; not -)"),
      OptionSpec("i", "identity", value: "IDENTITY", help: "authenticate with this identity (sc-keygen --identity)"),
      OptionSpec(nil, "peer-key", value: "PUBKEY", help: "with -i: the public key the peer must prove"),
      OptionSpec(
        nil, "known-peers", value: "FILE", help: "with -i: the known peers file (~/.config/securechat/known_peers)"),
      OptionSpec(nil, "accept-new", help: "with -i: accept a peer not yet known, and add it to the known peers"),
      OptionSpec(
        nil, "peers", value: "PEERSFILE", help: "accept every peer of this peers file (with --responder)"),
      OptionSpec("n", "name", value: "NAME", help: "the name to authenticate as (letters, digits, . _ - @ +)"),
      OptionSpec(nil, "peer-name", value: "NAME", help: "with -k: the name the peer must authenticate as"),
      OptionSpec("o", "output", value: "SESSIONFILE", help: "write the session here (created 0600, never overwritten)"),
      OptionSpec(nil, "timeout", value: "SECONDS", help: "give up when the handshake takes longer (default 30)"),
      OptionSpec(
        nil, "continue-from", value: "CONTFILE",
        help: "continue the session of this continuation file (initiator: required; responder: reported)"),
      OptionSpec(
        nil, "continuation-to", value: "CONTFILE",
        help: "write this session's continuation file here (created 0600, never overwritten)"),
      OptionSpec(nil, "log", value: "LOGFILE", help: "append an entry to LOGFILE when the handshake fails"),
      logKeyOption,
      OptionSpec(
        nil, "peer-address", value: "ADDRESS", help: "with --log: where the connection came from, for the entry"),
    ],
    maxOperands: 0)

  public static let defaultTimeout = 30

  public static func run(_ arguments: [String]) throws {
    let options = try ParsedArguments.parse(arguments, spec: spec)
    let role: Handshake.Role
    switch (options.has("initiator"), options.has("responder")) {
    case (true, false): role = .initiator
    case (false, true): role = .responder
    default: throw ToolError.usage("give exactly one of --initiator and --responder")
    }
    let keyPath = options.value("key")
    let peersPath = options.value("peers")
    let identityPath = options.value("identity")
    try checkIdentityOptions(options)
    switch (keyPath, peersPath) {
    case (nil, nil) where identityPath == nil:
      throw ToolError.usage(
        role == .responder
          ? "a key file is needed: -k KEYFILE, or a peers file: --peers PEERSFILE" : "a key file is needed: -k KEYFILE")
    case (.some, .some) where identityPath == nil:
      throw ToolError.usage("give either -k KEYFILE or --peers PEERSFILE, not both")
    default: break
    }
    if peersPath != nil {
      guard role == .responder else {
        throw ToolError.usage("--peers needs --responder: an initiator uses one key (-k KEYFILE --peer-name NAME)")
      }
      guard !options.has("peer-name") else {
        throw ToolError.usage("--peer-name cannot be used with --peers: each entry gives the name of its peer")
      }
    }
    guard keyPath != "-" && peersPath != "-" && identityPath != "-" else {
      throw ToolError.usage("the key cannot come from standard input: that is the peer")
    }
    guard let name = options.value("name") else { throw ToolError.usage("a name is needed: -n NAME") }
    guard SessionName.isValid(Array(name.utf8)) else {
      throw ToolError.usage("invalid name '\(name)': use 1 to 64 letters, digits, '.', '_', '-', '@' or '+'")
    }
    let peerName = options.value("peer-name")
    if let peerName, !SessionName.isValid(Array(peerName.utf8)) {
      throw ToolError.usage(
        "invalid peer name '\(peerName)': use 1 to 64 letters, digits, '.', '_', '-', '@' or '+'")
    }
    guard let sessionPath = options.value("output") else {
      throw ToolError.usage("a session file is needed: -o SESSIONFILE")
    }
    var timeout = defaultTimeout
    if let text = options.value("timeout") {
      guard let value = Int(text), value > 0, value <= 86400 else {
        throw ToolError.usage("--timeout takes a whole number of seconds from 1 to 86400")
      }
      timeout = value
    }
    let failureLog = try FailedHandshakeLog(options)
    // Standard input and output are the connection to the peer.
    try StandardDescriptors.requireOpen(.standardInput)
    try StandardDescriptors.requireOpen(.standardOutput)
    let sink = try SessionFileSink(path: sessionPath)
    let continuationPath = options.value("continuation-to")
    if continuationPath == sessionPath {
      throw ToolError.usage("the continuation file and the session file must be two files")
    }
    let continuationSink = try continuationPath.map { try SessionFileSink(path: $0) }
    // The session this handshake must continue (PROTOCOL.md §4.7), checked against the other
    // arguments before anything is sent.
    let continued = try options.value("continue-from").map {
      try ContinuationLoader.load($0, role: role, name: name, peerName: peerName, withPeersFile: peersPath != nil)
    }
    // The keys this side accepts: one, or one per entry of the peers file (PROTOCOL.md §3.9).
    var entries: [PeersFile.Entry] = []
    var keys: [Handshake.PeerKey] = []
    var identityHandshake: (Handshake, PeerPinning)?
    if let identityPath {
      identityHandshake = try makeIdentityHandshake(
        options, role: role, identityPath: identityPath, keyPath: keyPath, peersPath: peersPath, name: name,
        peerName: peerName)
    } else if let peersPath {
      // Entries with a public key are for -i (FORMATS.md §10.3).
      let all = try PeersFileLoader.load(peersPath)
      entries = all.filter { $0.publicKey == nil }
      guard !entries.isEmpty else {
        throw ToolError(
          "peers file \(peersPath) has no entries" + (all.isEmpty ? "" : " with a key file"),
          hints: all.isEmpty
            ? [PeersFileLoader.formatHint] : ["its entries hold public keys: listen with your identity, -i IDENTITY"])
      }
      keys = zip(entries, try PeersFileLoader.loadKeys(entries, peersFile: peersPath)).map { entry, key in
        Handshake.PeerKey(psk: key.secret, expectedName: Array(entry.name.utf8), label: "entry '\(entry.peer)'")
      }
    } else {
      let key = try KeyLoader.load(keyPath!, expecting: .psk)
      if let continued {
        // §4.7: the initiator holds only the continued key; the responder accepts it or, as a new
        // session that it reports as such, the pre-shared key alone. The same peer either way.
        let continuedKey = Handshake.PeerKey(
          psk: try continued.continuedKey(psk: key.secret), expectedName: continued.peerName)
        keys =
          role == .initiator
          ? [continuedKey] : [continuedKey, Handshake.PeerKey(psk: key.secret, expectedName: continued.peerName)]
      } else {
        keys = [Handshake.PeerKey(psk: key.secret, expectedName: peerName.map { Array($0.utf8) })]
      }
    }
    ignoreBrokenPipeSignal()

    // §3.9: with a peers file, the responder computes as many candidate responses at I2 as a
    // peers file may have entries, whatever it has; with -k (and --continue-from) it holds one
    // key (or two) and does not pad.
    let handshake =
      try identityHandshake?.0
      ?? Handshake(
        role: role, keys: keys, localName: Array(name.utf8), paddedTo: peersPath != nil ? PeersFile.maxEntries : nil)
    let reader = PeerReader(
      fd: .standardInput, deadline: monotonicMilliseconds() + Int64(timeout) * 1000, timeoutSeconds: timeout)
    do {
      try exchange(handshake, reader: reader, role: role, continued: continued)
    } catch {
      failureLog?.record(error)
      throw error
    }
    let session = handshake.result!
    try sink.write(SessionFile.serialize(session))
    try continuationSink?.write(ContinuationFile.serialize(ContinuationFile.Contents(session)))
    Diagnostics.info("authenticated peer '\(String(decoding: session.peerName, as: UTF8.self))'")
    Diagnostics.info("verification code \(session.verificationCode)")
    for line in identityHandshake?.1.report ?? [] { Diagnostics.info(line) }
    if !entries.isEmpty, let index = handshake.selectedKeyIndex {
      Diagnostics.info("peers file entry '\(entries[index].peer)'")
    }
    if let continued {
      // The continued key is the first of `keys` on both sides.
      if handshake.selectedKeyIndex == 0 {
        Diagnostics.info("continues session \(continued.sessionID.hexString)")
      } else {
        Diagnostics.info(
          "new session: it does not continue session \(continued.sessionID.hexString); compare the verification code")
      }
    }
  }

  /// The messages of the handshake, until it succeeds or fails; a failure of the handshake is
  /// reported with the words of its class (PROTOCOL.md §3.7).
  private static func exchange(
    _ handshake: Handshake, reader: PeerReader, role: Handshake.Role, continued: ContinuationFile.Contents?
  ) throws {
    do {
      if let first = handshake.start() { try sendToPeer(first) }
      var isFirstMessage = true
      while handshake.expectedMessage != nil {
        // Work that can wait is done while the peer is busy; a message already here comes first
        // (the peer then waits for our answer, and the work has to be done before ours anyway).
        if !reader.hasInputWaiting { handshake.prepareForPeerMessage() }
        let message = try readMessage(reader, handshake: handshake, isFirst: isFirstMessage)
        isFirstMessage = false
        if let reply = try handshake.receive(message) { try sendToPeer(reply) }
      }
    } catch let refused as PeerRefused {
      // The peer proved a key this side does not accept (PROTOCOL.md §11.6): "authentication
      // failed" to the peer, nothing finer.
      try? FileDescriptor.standardOutput.writeAll(HandshakeMessage.abortMessage)
      throw refused.error
    } catch let error as HandshakeError {
      // Tell the peer "authentication failed", nothing finer; unless it already knows.
      if error != .rejectedByPeer && error != .truncated {
        try? FileDescriptor.standardOutput.writeAll(HandshakeMessage.abortMessage)
      }
      var description = error.description
      // An initiator that continues (§4.7) learns only that its peer could not prove it.
      if let continued, role == .initiator {
        // The message still starts with the words of its class (PROTOCOL.md §3.7).
        let lack = "it does not hold that session's continuation secret, or not the key"
        switch error {
        case .rejectedByPeer:
          description =
            "rejected by the peer: it sent the abort, so it did not prove that it continues session \(continued.sessionID.hexString)"
            + " (\(lack))"
        case .authenticationFailed:
          description =
            "authentication failed: the peer did not prove that it continues session \(continued.sessionID.hexString)"
            + " (its response does not verify: \(lack))"
        default: break
        }
      }
      throw ToolError(description, status: error.isIntegrityFailure ? .integrityFailure : .operationalFailure)
    }
  }

  private static func readMessage(_ reader: PeerReader, handshake: Handshake, isFirst: Bool) throws -> [UInt8] {
    let header: [UInt8]
    switch try reader.readExactly(HandshakeMessage.headerSize) {
    case .complete(let bytes): header = bytes
    case .ended(let received):
      if isFirst && received == 0 {
        throw ToolError("the peer closed the connection before the handshake")
      }
      throw HandshakeError.truncated
    }
    let length = try handshake.bodyLength(header: header)
    switch try reader.readExactly(length) {
    case .complete(let body): return header + body
    case .ended: throw HandshakeError.truncated
    }
  }

  /// -i and the options that go with it (PROTOCOL.md §11.6).
  private static func checkIdentityOptions(_ options: ParsedArguments) throws {
    guard options.has("identity") else {
      for option in ["peer-key", "known-peers", "accept-new"] where options.has(option) {
        throw ToolError.usage("--\(option) goes with -i IDENTITY")
      }
      return
    }
    for option in ["continue-from", "continuation-to"] where options.has(option) {
      throw ToolError.usage(
        "--\(option) cannot be used with -i: an identity session needs no continuation, a reconnect proves the"
          + " same key (--peer-key)")
    }
    if options.has("peer-key") && (options.has("known-peers") || options.has("accept-new")) {
      throw ToolError.usage("--peer-key names the peer's key: it cannot be used with --known-peers or --accept-new")
    }
    if options.has("peers") {
      for option in ["peer-key", "known-peers", "accept-new"] where options.has(option) {
        throw ToolError.usage("--\(option) cannot be used with --peers: the peers file gives the keys it accepts")
      }
    }
  }

  /// Version 2 (PROTOCOL.md §11): the identity, an optional pre-shared key, and the pinning of
  /// the peer's key, all loaded and checked before anything is sent.
  private static func makeIdentityHandshake(
    _ options: ParsedArguments, role: Handshake.Role, identityPath: String, keyPath: String?, peersPath: String?,
    name: String, peerName: String?
  ) throws -> (Handshake, PeerPinning) {
    let identity = try KeyLoader.load(identityPath, expecting: .identity)
    let psk = try keyPath.map { try KeyLoader.load($0, expecting: .psk).secret }
    let pinning: PeerPinning
    if let peersPath {
      // Entries with a key file are for -k alone (FORMATS.md §10.3).
      let all = try PeersFileLoader.load(peersPath)
      let entries = all.filter { $0.publicKey != nil }
      guard !entries.isEmpty else {
        throw ToolError(
          "peers file \(peersPath) has no entries" + (all.isEmpty ? "" : " with a public key"),
          hints: all.isEmpty
            ? [PeersFileLoader.formatHint]
            : ["add a peer's public key with: sc-chat peers add PEER HOST PORT PUBKEY [NAME]"])
      }
      pinning = PeerPinning(source: .peersFile(path: peersPath, entries: entries))
    } else if let text = options.value("peer-key") {
      do {
        pinning = PeerPinning(source: .given(try PublicKey(text: text)))
      } catch let error as ProtocolError {
        throw ToolError(error.description, hints: ["a public key is printed by sc-keygen --identity or sc-keygen -y"])
      }
    } else {
      guard let path = options.value("known-peers") ?? PeerPinning.defaultKnownPeersPath() else {
        throw ToolError.usage("no known peers file: give --known-peers FILE or --peer-key PUBKEY (HOME is not set)")
      }
      _ = try PeerPinning.load(path)  // a damaged file is refused before the handshake
      pinning = PeerPinning(source: .knownPeers(path: path, acceptNew: options.has("accept-new")))
    }
    let handshake = try Handshake(
      role: role, identity: identity.secret, psk: psk, localName: Array(name.utf8),
      expectedPeerName: peerName.map { Array($0.utf8) }, acceptPeerKey: pinning.check)
    pinning.handshake = handshake
    return (handshake, pinning)
  }

  private static func sendToPeer(_ bytes: [UInt8]) throws {
    do {
      try FileDescriptor.standardOutput.writeAll(bytes)
    } catch {
      throw ToolError("the peer closed the connection during the handshake")
    }
  }
}

/// Where sc-handshake puts the session (OutputTarget's rules): a new file, created O_EXCL and
/// 0600 once the handshake has succeeded and never over an existing one; or a descriptor the user
/// named (/dev/fd/N, so that a session need never touch a disk) or a device such as /dev/null,
/// opened before the handshake. Never a symbolic link, nor a fifo or socket named by its path.
struct SessionFileSink {
  let path: String
  /// The descriptor or device, opened up front; nil for a new file.
  private let opened: FileDescriptor?

  private static let what = "session file"

  /// Checks up front, before talking to the peer, that the session can be written.
  init(path: String) throws {
    self.path = path
    let target = try OutputTarget(checking: path, what: Self.what)
    opened = try target.openDescriptorOrDevice(path, what: Self.what)
    switch target {
    case .descriptor, .device:
      break
    case .existingFile:
      throw ToolError("\(path) already exists", hints: ["sc-handshake never overwrites a session file"])
    case .missing:
      // Find out now, not after the peer has been told the handshake succeeded.
      let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
      guard access(directory.isEmpty ? "/" : directory, W_OK) == 0 else {
        throw ToolError.system("cannot create the session file in \(directory.isEmpty ? "/" : directory)")
      }
    }
    if let opened {
      // Standard input and output are the connection: never write the keys there.
      var info = stat()
      if fstat(opened.rawValue, &info) == 0 {
        for stream in [FileDescriptor.standardInput, .standardOutput] {
          var streamInfo = stat()
          if fstat(stream.rawValue, &streamInfo) == 0 && streamInfo.st_dev == info.st_dev
            && streamInfo.st_ino == info.st_ino
          {
            opened.close()
            throw ToolError("\(path) is the connection to the peer: the session keys would be sent to it")
          }
        }
      }
    }
  }

  func write(_ contents: SecretBytes) throws {
    let fd: FileDescriptor
    if let opened {
      fd = opened
    } else {
      guard let created = try OutputTarget.createNew(path, what: Self.what, flags: O_WRONLY) else {
        throw ToolError("\(path) already exists", hints: ["sc-handshake never overwrites a session file"])
      }
      fd = created
    }
    defer { fd.close() }
    do {
      try contents.withUnsafeBytes { try fd.writeAll($0) }
    } catch {
      if opened == nil { unlink(path) }
      throw ToolError.system("cannot write the session to \(path)")
    }
  }
}
