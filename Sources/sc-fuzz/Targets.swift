import SecureChatCrypto
import SecureChatProtocol

/// One fuzz target: a parser of the library fed with the fuzzer's bytes (docs/TESTING.md).
///
/// Besides "does not crash", each target checks properties that must hold for every input, and
/// traps when one does not: a failure leaves no state behind, reading an input in pieces gives
/// the same result as reading it whole, what parses serializes back to the same thing.
typealias Seed = (name: String, bytes: [UInt8])

struct FuzzTarget: Sendable {
  let name: String
  /// What gets the bytes (for --list and docs/TESTING.md).
  let summary: String
  /// Runs one input and returns its outcome ("success" or an error class) for replays.
  let run: @Sendable ([UInt8]) -> String
  /// Seed inputs for the corpus, made from the vectors and the fixed peers.
  let seeds: @Sendable (Vectors) -> [Seed]

  static let all: [FuzzTarget] = [
    handshake("handshake-i1", .initiatorHello, "I1 to a responder that has started"),
    handshake("handshake-r1", .responderHello, "R1 to an initiator that has sent I1"),
    handshakeAuth("handshake-i2", .initiatorAuth, "I2 to a responder that has answered the good I1"),
    handshakeAuth("handshake-r2", .responderAuth, "R2 to an initiator that has answered the good R1"),
    handshakeAbort, handshakeI2Keys, sessionFrames, sealedFile, recipientFile, armor, keyFile, peersFile,
    sessionFile, continuationFile, logLine, logVerify, publicLogVerify, publicKey, knownPeers, handshakeV2,
  ]

  static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// Traps with `message` unless `condition` holds: a property every input must keep.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
  if !condition { fatalError("property violated: \(message())") }
}

/// The first byte of an input, when a target takes options, and the rest.
func splitControl(_ data: [UInt8]) -> (control: UInt8, body: [UInt8]) {
  data.isEmpty ? (0, []) : (data[0], Array(data.dropFirst()))
}

/// Each seed with each control byte in front, its name with the suffix.
func withControl(_ seeds: [Seed], _ controls: [(suffix: String, byte: UInt8)]) -> [Seed] {
  seeds.flatMap { seed in controls.map { (seed.name + $0.suffix, [$0.byte] + seed.bytes) } }
}

/// The piece size for reading an input in pieces, chosen by `selector`; never so small that a
/// large input takes more than a few hundred steps.
func pieceSize(_ selector: UInt8, count: Int) -> Int {
  let sizes = [Int.max, 1, 2, 3, 7, 16, 31, 32, 33, 64, 71, 72, 73, 100, 4096, 65604]
  return max(sizes[Int(selector) % sizes.count], count / 256)
}

func outcome(_ error: Error) -> String {
  switch error {
  case let error as ProtocolError: return error.vectorClass
  case let error as HandshakeError:
    switch error {
    case .authenticationFailed: return "authentication"
    case .rejectedByPeer: return "rejected"
    case .unexpectedMessage: return "unexpected-message"
    case .malformed: return "malformed"
    case .truncated: return "truncated"
    case .notAPeer: return "not-a-peer"
    case .unsupportedVersion: return "unsupported-version"
    case .invalidPublicKey: return "invalid-public-key"
    }
  case let defect as LogDefect: return "\(defect.kind.rawValue) line \(defect.line)"
  default: fatalError("an error of an unexpected type: \(error)")
  }
}

// MARK: - handshake

extension FuzzTarget {
  /// Gives `message` to `machine` as the peer's next message, as sc-handshake does: the header
  /// is checked first (the tool reads no body after a bad type or length), then the message.
  static func deliver(_ message: [UInt8], to machine: Handshake) -> String {
    let expected = machine.expectedMessage!
    let isFirst = expected == .initiatorHello || expected == .responderHello
    var headerError: HandshakeError?
    if message.count >= HandshakeMessage.headerSize {
      do {
        _ = try HandshakeMessage.bodyLength(
          header: Array(message.prefix(HandshakeMessage.headerSize)), expecting: expected, isFirst: isFirst)
      } catch {
        headerError = (error as! HandshakeError)
      }
    }
    do {
      let reply = try machine.receive(message)
      require(headerError == nil, "the state machine accepted a message whose header is refused")
      switch expected {
      case .initiatorHello, .responderHello:
        require(reply != nil && machine.expectedMessage != nil && machine.result == nil, "a hello completed")
      case .initiatorAuth:
        require(reply != nil && machine.state == .complete && machine.result != nil, "I2 accepted, no keys")
      case .responderAuth, .abort, .initiatorIdentity, .responderConfirmation:
        require(reply == nil && machine.state == .complete && machine.result != nil, "R2 accepted, no keys")
      }
      return "success"
    } catch {
      require(machine.state == .failed && machine.result == nil, "a failure left the machine \(machine.state)")
      if let headerError { require(error as? HandshakeError == headerError, "\(error) but the header: \(headerError)") }
      // Nothing is accepted after a failure.
      require((try? machine.receive(message)) == nil, "a failed machine accepted a message")
      return outcome(error)
    }
  }

  static func handshake(_ name: String, _ stage: HandshakeMessageType, _ summary: String) -> FuzzTarget {
    FuzzTarget(
      name: name, summary: "Handshake.receive (after the header check of sc-handshake): " + summary,
      run: { deliver($0, to: Fixtures.machine(waitingFor: stage)) },
      seeds: { vectors in
        let good = Fixtures.goodHandshake.messages[Int(stage.rawValue) - 1]
        return [("good", good), ("abort", HandshakeMessage.abortMessage)]
          + vectors.handshakeMessages(waitingFor: stage)
      })
  }

  /// I2 or R2. Bit 0 of the first byte: the rest is the message without its response, which is
  /// made (with the name frame's tag and CRC, and the header's length) as a peer holding the key
  /// would, so that the checks behind the response see a fuzzed name frame.
  static func handshakeAuth(_ name: String, _ stage: HandshakeMessageType, _ summary: String) -> FuzzTarget {
    let signer = stage == .initiatorAuth ? Fixtures.initiatorSigner : Fixtures.responderSigner
    return FuzzTarget(
      name: name,
      summary: "Handshake.receive (after the header check of sc-handshake): " + summary
        + "; signed by a peer with the key if the first byte is odd",
      run: { data in
        let (control, body) = splitControl(data)
        let machine = Fixtures.machine(waitingFor: stage)
        let result = deliver(control & 1 != 0 ? signer.sign(body) : body, to: machine)
        if result == "success" {
          require(SessionName.isValid(machine.result!.peerName), "a handshake completed with an invalid name")
        }
        return result
      },
      seeds: { vectors in
        let good = Fixtures.goodHandshake.messages[Int(stage.rawValue) - 1]
        let messages =
          [("good", good), ("abort", HandshakeMessage.abortMessage)]
          + vectors.handshakeMessages(waitingFor: stage)
        let unsigned = messages.map { ($0.name, Array($0.bytes.dropLast(HandshakeMessage.responseSize))) }
        return withControl(messages, [("", 0)]) + withControl(unsigned, [("-signed", 1)])
      })
  }

  /// The abort message (and anything else) at each point of the exchange: the first byte picks
  /// the point (I1, R1, I2 or R2 expected). An abort is "rejected by the peer" everywhere.
  static let handshakeAbort = FuzzTarget(
    name: "handshake-abort",
    summary: "Handshake.receive at the point the first byte picks (I1, R1, I2, R2 expected): the abort message",
    run: runHandshakeAbort, seeds: seedsHandshakeAbort)

  @Sendable static func runHandshakeAbort(_ data: [UInt8]) -> String {
    let (control, message) = splitControl(data)
    let stage = HandshakeMessageType(rawValue: control % 4 + 1)!
    let result = deliver(message, to: Fixtures.machine(waitingFor: stage))
    if message.count >= 3 && message[0] == HandshakeMessageType.abort.rawValue && message[1] == 0
      && message[2] == 0
    {
      require(result == "rejected", "an abort message gave \(result)")
    }
    return result
  }

  @Sendable static func seedsHandshakeAbort(_ vectors: Vectors) -> [Seed] {
    var seeds: [Seed] = []
    for stage in 0..<4 {
      let type = HandshakeMessageType(rawValue: UInt8(stage) + 1)!
      let messages: [Seed] =
        [
          ("abort", HandshakeMessage.abortMessage), ("abort-body", [0x7f, 0, 1, 0]),
          ("good", Fixtures.goodHandshake.messages[stage]),
        ] + vectors.handshakeMessages(waitingFor: type)
      seeds += withControl(messages, [("-\(stage)", UInt8(stage))])
    }
    return seeds
  }
}

// MARK: - handshake: a responder with several keys

extension FuzzTarget {
  /// I2 to a responder with three keys, each with its entry's name (PROTOCOL.md §3.9). Bit 0 of
  /// the first byte clear: the rest is I2 as it is. Set: the rest is the name a peer sends, bits
  /// 1–2 pick the peer's key (one of the three, or one the responder does not know), bit 3 makes
  /// the name frame not final, bit 4 adds an empty final frame after it. That peer is written
  /// from the protocol document (Fixtures.MultiKeyInitiator), so the outcome is known: success
  /// exactly for a known key, its entry's name and one final frame, and the key the response
  /// proves is the one selected, whatever fails after it.
  static let handshakeI2Keys = FuzzTarget(
    name: "handshake-i2-keys",
    summary: "Handshake.receive: I2 to a responder with three keys (a peers file), as is or from a peer with a key",
    run: runHandshakeI2Keys, seeds: seedsHandshakeI2Keys)

  @Sendable static func runHandshakeI2Keys(_ data: [UInt8]) -> String {
    let (control, body) = splitControl(data)
    let machine = Fixtures.multiKeyResponder().machine
    guard control & 1 != 0 else { return deliver(body, to: machine) }
    let keyIndex = Int(control >> 1) & 3
    let known = keyIndex < Fixtures.responderKeys.count
    let psk = known ? Fixtures.responderKeys[keyIndex].psk : Fixtures.unknownKey
    let final = control & 8 == 0
    let name = Array(body.prefix(RecordLayer.maxPlaintextCount))
    let peer = Fixtures.multiKeyInitiator
    let message = peer.i2(
      psk: psk, frames: peer.nameFrames(psk: psk, name: name, final: final, followed: control & 16 != 0))
    let result = deliver(message, to: machine)
    let expected = known && final && SessionName.isValid(name) && name == Fixtures.responderKeys[keyIndex].name
    require(
      (result == "success") == expected,
      "a peer with key \(keyIndex + 1), name \(name), final \(final): \(result)")
    // Within the header's bounds the response is checked, and it verifies under its key alone.
    let checked =
      message.count - HandshakeMessage.headerSize <= HandshakeMessage.maxAuthBodySize + HandshakeMessage.publicKeySize
    require(
      machine.selectedKeyIndex == (known && checked ? keyIndex : nil),
      "key \(keyIndex + 1) answered, \(String(describing: machine.selectedKeyIndex)) selected")
    if expected { require(machine.result?.peerName == name, "another peer name") }
    return result
  }

  @Sendable static func seedsHandshakeI2Keys(_ vectors: Vectors) -> [Seed] {
    let asIs = vectors.all.filter { $0.fields["kind"] == "handshake-responder-keys" }.compactMap { vector -> Seed? in
      guard let hex = vector.fields["receive-2"], let message = [UInt8](hexString: hex) else { return nil }
      return (vector.name, [0] + message)
    }
    var fromPeer: [Seed] = []
    for key in 0..<4 {
      for (label, name) in [
        ("alice", "alice"), ("carol", "carol"), ("dave", "dave"), ("mallory", "mallory"), ("empty", ""),
        ("carol-escape", "carol\u{1b}"),
      ] {
        fromPeer.append(("peer-key\(key + 1)-\(label)", [UInt8(key << 1 | 1)] + Array(name.utf8)))
      }
    }
    fromPeer += [
      ("peer-key2-carol-not-final", [2 << 1 | 1 | 8] + Array("carol".utf8)),
      ("peer-key2-carol-two-frames", [2 << 1 | 1 | 8 | 16] + Array("carol".utf8)),
    ]
    return asIs + fromPeer
  }
}

// MARK: - record layer: session streams and sealed files

extension FuzzTarget {
  /// Bit 0 of the first byte: recompute the tags and CRCs (so that the checks after them see the
  /// fuzzed fields); the other bits: the piece size for the streaming reader.
  static let sessionFrames = FuzzTarget(
    name: "session-frames",
    summary: "SessionStreamReader (FrameOpener: FrameVerifier, FrameDecryptor), whole and in pieces",
    run: runSessionFrames, seeds: seedsSessionFrames)

  @Sendable static func runSessionFrames(_ data: [UInt8]) -> String {
    let (control, body) = splitControl(data)
    var stream = body
    if control & 1 != 0 { Fixtures.fixFrames(&stream, from: 0, mac: Fixtures.sessionMAC) }
    let whole = try! SessionStreamReader.open(stream, session: Fixtures.session)
    let error = whole.error
    let (pieces, piecesReceipts, piecesError) = openSessionInPieces(
      stream, pieceSize: pieceSize(control >> 1, count: stream.count))
    require(
      whole.plaintext == pieces && whole.receipts == piecesReceipts && error == piecesError,
      "in pieces: \(String(describing: piecesError)), whole: \(String(describing: error))")
    // PROTOCOL.md §6.5: the receipts released are always 0, 1, 2, … once each.
    require(whole.receipts.elementsEqual(0..<UInt64(whole.receipts.count)), "receipts out of order were released")
    return error?.vectorClass ?? "success"
  }

  @Sendable static func seedsSessionFrames(_ vectors: Vectors) -> [Seed] {
    withControl(vectors.data(ofKind: "session-stream"), [("", 0), ("-fixed", 1)])
  }

  /// The session tool's way: buffered input, `needMoreInput` until a whole frame is there.
  static func openSessionInPieces(_ stream: [UInt8], pieceSize: Int) -> ([UInt8], [UInt64], ProtocolError?) {
    let reader = try! SessionStreamReader(session: Fixtures.session)
    var buffer: [UInt8] = []
    var fed = 0
    var plaintext: [UInt8] = []
    var receipts: [UInt64] = []
    do {
      while true {
        let atEnd = fed == stream.count
        switch try buffer.withUnsafeBytes({ try reader.next($0, atEnd: atEnd) }) {
        case .needMoreInput:
          require(!atEnd, "needMoreInput at the end")
          let count = min(pieceSize, stream.count - fed)
          buffer += stream[fed..<fed + count]
          fed += count
        case .message(let consumed, _, let message):
          plaintext += message
          buffer.removeFirst(consumed)
        case .receipt(let consumed, _, let number):
          receipts.append(number)
          buffer.removeFirst(consumed)
        case .finished(let consumed, _, let message):
          plaintext += message
          buffer.removeFirst(consumed)
          guard buffer.isEmpty && fed == stream.count else { throw ProtocolError.trailingData }
          return (plaintext, receipts, nil)
        }
      }
    } catch {
      return (plaintext, receipts, (error as! ProtocolError))
    }
  }

  /// Bit 0 of the first byte: recompute the header tag, frame tags and CRCs of a binary file;
  /// the other bits: the piece size for the streaming reader.
  static let sealedFile = FuzzTarget(
    name: "sealed-file",
    summary: "SealedFile.open (header, frames in file mode, armor) and SealedFileReader in pieces",
    run: runSealedFile, seeds: seedsSealedFile)

  @Sendable static func runSealedFile(_ data: [UInt8]) -> String {
    let (control, body) = splitControl(data)
    var file = body
    let armored = Armor.looksArmored(file.prefix(Armor.beginLine.count))
    if control & 1 != 0 && !armored { Fixtures.fixSealedFile(&file) }
    var whole: Result<[UInt8], ProtocolError>
    do {
      whole = .success(try SealedFile.open(file, fileKey: Fixtures.fileKey))
    } catch {
      whole = .failure(error as! ProtocolError)
    }
    if !armored {
      let pieces = openSealedFileInPieces(file, pieceSize: pieceSize(control >> 1, count: file.count))
      require(pieces == whole, "in pieces: \(pieces), whole: \(whole)")
    }
    switch whole {
    case .success: return "success"
    case .failure(let error): return error.vectorClass
    }
  }

  @Sendable static func seedsSealedFile(_ vectors: Vectors) -> [Seed] {
    withControl(vectors.data(ofKind: "sealed-file"), [("", 0), ("-fixed", 1), ("-pieces", 3 << 1)])
  }

  /// sc-open's way: `SealedFileReader` on buffered input, decryption by `FrameDecryptor`.
  static func openSealedFileInPieces(
    _ file: [UInt8], pieceSize: Int, opener: SealedFileReader.Opener = .preSharedKey(Fixtures.fileKey)
  ) -> Result<[UInt8], ProtocolError> {
    let reader = SealedFileReader(opener: opener)
    var decryptor: FrameDecryptor?
    var buffer: [UInt8] = []
    var fed = 0
    var plaintext: [UInt8] = []
    do {
      while true {
        let atEnd = fed == file.count
        switch try buffer.withUnsafeBytes({ try reader.next($0, atEnd: atEnd) }) {
        case .needMoreInput:
          require(!atEnd, "needMoreInput at the end")
          let count = min(pieceSize, file.count - fed)
          buffer += file[fed..<fed + count]
          fed += count
        case .header(let consumed):
          require(reader.keys != nil && decryptor == nil, "a second header")
          decryptor = try FrameDecryptor(key: reader.keys!.frames.encryption)
          buffer.removeFirst(consumed)
        case .frame(let consumed, let frame):
          var chunk = [UInt8](repeating: 0, count: frame.ciphertextCount)
          let count = try buffer.withUnsafeBytes { input in
            try chunk.withUnsafeMutableBytes {
              try decryptor!.decrypt(
                frame: UnsafeRawBufferPointer(rebasing: input[0..<consumed]), into: $0.baseAddress!)
            }
          }
          try SealedFile.checkPlaintextCount(count, of: frame)
          plaintext += chunk[0..<count]
          buffer.removeFirst(consumed)
        case .trailer(let consumed):
          require(consumed % RecipientFile.proofSize == 0, "a trailer of \(consumed) bytes")
          buffer.removeFirst(consumed)
        case .finished:
          return .success(plaintext)
        }
      }
    } catch {
      return .failure(error as! ProtocolError)
    }
  }
}

// MARK: - files sealed to recipients

extension FuzzTarget {
  /// The first byte: bit 0 asks for the sender Alice (sc-open --from), the rest is the piece size.
  /// Opening whole and in pieces agree; the stanza and trailer checks run with Bob's identity.
  static let recipientFile = FuzzTarget(
    name: "recipient-file",
    summary: "SealedFile.open with an identity (§12.2 header, stanzas, trailer) and SealedFileReader in pieces",
    run: runRecipientFile, seeds: seedsRecipientFile)

  @Sendable static func runRecipientFile(_ data: [UInt8]) -> String {
    let (control, file) = splitControl(data)
    let opener = SealedFileReader.Opener.identity(
      Fixtures.recipientIdentity, expectedSender: control & 1 != 0 ? Fixtures.senderPublicKey : nil)
    var whole: Result<[UInt8], ProtocolError>
    do {
      let opened = try SealedFile.open(file, opener: opener)
      if control & 1 != 0 {
        require(opened.sender == .claimed(Fixtures.senderPublicKey, proved: true), "--from passed: \(opened.sender)")
      }
      whole = .success(opened.plaintext)
    } catch {
      whole = .failure(error as! ProtocolError)
    }
    if !Armor.looksArmored(file.prefix(Armor.beginLine.count)) {
      let pieces = openSealedFileInPieces(file, pieceSize: pieceSize(control >> 1, count: file.count), opener: opener)
      require(pieces == whole, "in pieces: \(pieces), whole: \(whole)")
    }
    switch whole {
    case .success: return "success"
    case .failure(let error): return error.vectorClass
    }
  }

  @Sendable static func seedsRecipientFile(_ vectors: Vectors) -> [Seed] {
    withControl(vectors.data(ofKind: "recipient-file"), [("", 0), ("-from-alice", 1), ("-pieces", 3 << 1)])
  }
}

// MARK: - armor

extension FuzzTarget {
  /// The first byte: the piece size. Decoding whole and in pieces agree; what decodes encodes
  /// back to armor that decodes to the same bytes; strict base64 has one accepted form.
  static let armor = FuzzTarget(
    name: "armor",
    summary: "ArmorDecoder (whole and in pieces), ArmorEncoder round trip, Base64.decode",
    run: runArmor, seeds: seedsArmor)

  @Sendable static func runArmor(_ data: [UInt8]) -> String {
    let (control, text) = splitControl(data)
    let piece = pieceSize(control, count: text.count)
    let whole = decodeArmor(text, pieceSize: Int.max)
    let pieces = decodeArmor(text, pieceSize: piece)
    require(whole == pieces, "in pieces: \(pieces), whole: \(whole)")
    if let decoded = Base64.decode(text) {
      require(Base64.encodeBytes(decoded) == text, "base64 accepted a non-canonical form")
    }
    guard case .success(let bytes) = whole else {
      if case .failure(let error) = whole { return error.vectorClass }
      return ""
    }
    var encoder = ArmorEncoder()
    var armored = encoder.header()
    var offset = 0
    while offset < bytes.count {
      let count = min(piece, bytes.count - offset)
      bytes[offset..<offset + count].withUnsafeBytes { encoder.encode($0, into: &armored) }
      offset += count
    }
    encoder.finish(into: &armored)
    require(decodeArmor(armored, pieceSize: Int.max) == whole, "armor did not survive a round trip")
    return "success"
  }

  @Sendable static func seedsArmor(_ vectors: Vectors) -> [Seed] {
    let armored = vectors.data(ofKind: "sealed-file").filter {
      Armor.looksArmored($0.bytes.prefix(Armor.beginLine.count))
    }
    return withControl(armored, [("", 0), ("-pieces", 5)])
  }

  static func decodeArmor(_ text: [UInt8], pieceSize: Int) -> Result<[UInt8], ProtocolError> {
    var decoder = ArmorDecoder()
    var out: [UInt8] = []
    do {
      var offset = 0
      while offset < text.count {
        let count = min(pieceSize, text.count - offset)
        try text[offset..<offset + count].withUnsafeBytes { try decoder.decode($0, into: &out) }
        offset += count
      }
      try decoder.finish(into: &out)
      return .success(out)
    } catch {
      return .failure(error as! ProtocolError)
    }
  }
}

// MARK: - key files, session files

extension FuzzTarget {
  /// What parses serializes to a file that parses to the same key.
  static let keyFile = FuzzTarget(
    name: "key-file",
    summary: "KeyFile.parse (psk, log-seal, log-verify, identity, log-sign), then serialize and parse again",
    run: runKeyFile, seeds: seedsKeyFile)

  @Sendable static func runKeyFile(_ data: [UInt8]) -> String {
    let key: KeyFile.Key
    do {
      key = try data.withUnsafeBytes { try KeyFile.parse($0) }
    } catch {
      return outcome(error)
    }
    let again = try! KeyFile.serialize(key).withUnsafeBytes { try KeyFile.parse($0) }
    require(again.type == key.type && again.logPosition == key.logPosition, "a key changed type or position")
    require(
      again.checkpointPosition == key.checkpointPosition && again.auditKey == key.auditKey,
      "a log-sign key changed its checkpoint position or audit key")
    require(again.secret.constantTimeEquals(key.secret) && again.fingerprint == key.fingerprint, "a key changed")
    return "success"
  }

  @Sendable static func seedsKeyFile(_ vectors: Vectors) -> [Seed] {
    var seeds = vectors.data(ofKind: "key-file")
    // One of each type, as sc-keygen writes them.
    let secret = SecretBytes(copying: [UInt8](repeating: 0x5a, count: 32))
    for key in [
      KeyFile.Key(type: .psk, secret: secret), KeyFile.Key(type: .logVerify, secret: secret),
      KeyFile.Key(
        type: .logSeal, secret: secret,
        logPosition: KeyFile.LogPosition(nextIndex: 42, previousTag: [UInt8](repeating: 0xa5, count: 32))),
      KeyFile.Key(
        type: .logSign, secret: secret,
        logPosition: KeyFile.LogPosition(nextIndex: 42, previousTag: [UInt8](repeating: 0xa5, count: 32)),
        checkpointPosition: CheckpointPosition(epoch: 3, sealedCount: 40, time: 1_796_416_509),
        auditKey: Fixtures.publicLogPublicKeys[0]),
    ] {
      seeds.append(("written-\(key.type.rawValue)", KeyFile.serialize(key, comment: "fuzz").copyForTesting()))
    }
    return seeds
  }

  /// What parses holds the rules of §10 (unique labels, key files and public keys, valid fields), and written
  /// out again parses to the same entries.
  static let peersFile = FuzzTarget(
    name: "peers-file",
    summary: "PeersFile.parse, then the entries written out and parsed again",
    run: runPeersFile, seeds: seedsPeersFile)

  @Sendable static func runPeersFile(_ data: [UInt8]) -> String {
    let location = "/home/u/.config/securechat/peers"
    let entries: [PeersFile.Entry]
    do {
      entries = try PeersFile.parse(data, location: location)
    } catch {
      let error = error as! PeersFileError
      return "\(error.kind.rawValue) line \(error.line)"
    }
    require(Set(entries.map(\.peer)).count == entries.count, "two entries with one label")
    require(Set(entries.map(\.keyPath)).count == entries.count, "two entries with one key file")
    require(zip(entries, entries.dropFirst()).allSatisfy { $0.line < $1.line }, "lines out of order")
    for entry in entries {
      require(
        entry.line >= 2 && PeersFile.isValidLabel(Array(entry.peer.utf8))
          && SessionName.isValid(Array(entry.name.utf8)) && (entry.host == nil) == (entry.port == nil)
          && entry.port != 0
          && (PeersFile.namesPublicKey(Array(entry.keyFile.utf8))
            ? entry.publicKey.map { $0.text == entry.keyPath } ?? false
            : entry.publicKey == nil && entry.keyPath == PeersFile.resolve(keyFile: entry.keyFile, location: location)),
        "an entry breaks a rule: \(entry)")
    }
    var text = PeersFile.header + [0x0a]
    for entry in entries {
      let port = entry.port.map { String($0) } ?? "-"
      text += Array("\(entry.peer) \(entry.host ?? "-") \(port) \(entry.keyFile) \(entry.name)\n".utf8)
    }
    let again = try? PeersFile.parse(text, location: location)
    let renumbered = entries.enumerated().map {
      PeersFile.Entry(
        line: $0.offset + 2, peer: $0.element.peer, host: $0.element.host, port: $0.element.port,
        keyFile: $0.element.keyFile, keyPath: $0.element.keyPath, publicKey: $0.element.publicKey,
        name: $0.element.name)
    }
    require(again == renumbered, "the entries written out parse to \(String(describing: again))")
    return "success"
  }

  @Sendable static func seedsPeersFile(_ vectors: Vectors) -> [Seed] {
    vectors.data(ofKind: "peers-file")
  }

  /// The two files of sc-handshake (PROTOCOL.md §5, §5.1): what parses serializes back to
  /// exactly the same bytes.
  static let sessionFile = roundTrip(
    "session-file", "SessionFile", { SessionFile.serialize(try $0.withUnsafeBytes { try SessionFile.parse($0) }) },
    seeds: [Fixtures.goodHandshake.initiator, Fixtures.goodHandshake.responder].map(SessionFile.serialize))
  static let continuationFile = roundTrip(
    "continuation-file", "ContinuationFile",
    { ContinuationFile.serialize(try $0.withUnsafeBytes { try ContinuationFile.parse($0) }) },
    seeds: [Fixtures.goodHandshake.initiator, Fixtures.goodHandshake.responder].map {
      ContinuationFile.serialize(.init($0))
    })

  /// `parseAndSerialize` parses the input and serializes what it got; seeds are the initiator's
  /// and responder's files, and the responder's one byte short.
  static func roundTrip(
    _ name: String, _ type: String, _ parseAndSerialize: @escaping @Sendable ([UInt8]) throws -> SecretBytes,
    seeds files: [SecretBytes]
  ) -> FuzzTarget {
    let seeds = files.map { $0.copyForTesting() }
    return FuzzTarget(
      name: name, summary: "\(type).parse, then serialize: the same bytes",
      run: { data in
        let again: SecretBytes
        do { again = try parseAndSerialize(data) } catch { return outcome(error) }
        require(again.copyForTesting() == data, "a \(name) changed in a round trip")
        return "success"
      },
      seeds: { _ in [("initiator", seeds[0]), ("responder", seeds[1]), ("truncated", Array(seeds[1].dropLast()))] })
  }
}

// MARK: - session logs

extension FuzzTarget {
  static let logLine = FuzzTarget(
    name: "log-line",
    summary: "LogLine (one line of a session log, without its newline)",
    run: runLogLine, seeds: seedsLogLine)

  @Sendable static func runLogLine(_ data: [UInt8]) -> String {
    data.withUnsafeBytes { line in
      do {
        let parsed = try LogLine(line, lineNumber: 1)
        let tagHex = SessionLog.tagSize * 2
        require(parsed.body.count == line.count - tagHex - 1, "the body is not the line without its tag")
        require(Array(parsed.tag.hexString.utf8) == Array(line.suffix(tagHex)), "the tag is not the line's end")
        for field in [parsed.session, parsed.text] {
          require(
            field.baseAddress! >= parsed.body.baseAddress!
              && field.baseAddress! + field.count <= parsed.body.baseAddress! + parsed.body.count,
            "a field outside the body")
        }
        let digits = parsed.body.prefix { $0 != UInt8(ascii: " ") }
        // §9.2: 1 to 19 digits; writers write no leading zeros, readers accept them.
        require(UInt64(String(decoding: digits, as: UTF8.self)) == parsed.index, "the entry number")
        return "success"
      } catch {
        return outcome(error)
      }
    }
  }

  @Sendable static func seedsLogLine(_ vectors: Vectors) -> [Seed] {
    vectors.data(ofKind: "log").flatMap { vector in
      vector.bytes.split(separator: 0x0a).enumerated().map { ("\(vector.name)-\($0.offset + 1)", Array($0.element)) }
    }
  }

  /// Bit 0 of the first byte: give each line the tag it needs at its place; bits 1–3: the batch
  /// size, bits 4–5: the parts of `verifyBatch`. Line by line and in batches the same defect.
  static let logVerify = FuzzTarget(
    name: "log-verify",
    summary: "LogVerifier over a whole log: verify line by line, and verifyBatch as sc-logcheck does",
    run: runLogVerify, seeds: seedsLogVerify)

  @Sendable static func runLogVerify(_ data: [UInt8]) -> String {
    let (control, body) = splitControl(data)
    var log = body
    if control & 1 != 0 { Fixtures.fixLogTags(&log) }
    let batchSizes = [1, 2, 3, 5, 8, 13, 64, 1000]
    let lineByLine = verifyLog(log, batchSize: nil, parts: 1)
    let batched = verifyLog(log, batchSize: batchSizes[Int(control >> 1) % 8], parts: 1 + Int(control >> 4) % 3)
    require(lineByLine.defect == batched.defect, "batched: \(String(describing: batched.defect))")
    if lineByLine.defect == nil {
      require(lineByLine.state == batched.state, "the verifiers disagree after an intact log")
    }
    return lineByLine.defect.map { outcome($0) } ?? "success"
  }

  @Sendable static func seedsLogVerify(_ vectors: Vectors) -> [Seed] {
    withControl(vectors.data(ofKind: "log"), [("", 0), ("-fixed", 1), ("-batches", 2 << 1 | 1 << 4)])
  }

  struct LogState: Equatable {
    let nextIndex: UInt64
    let previousTag: [UInt8]
    let openDirections: Set<[UInt8]>
  }

  /// Complete lines go to the verifier, each with the line after it; an unterminated last line
  /// is torn (as sc-logcheck reads a log).
  static func verifyLog(_ log: [UInt8], batchSize: Int?, parts: Int) -> (defect: LogDefect?, state: LogState) {
    let verifier = try! LogVerifier(verifyKey: Fixtures.logVerifyKey)
    var lines = log.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
    let partial = lines.removeLast()
    var defect: LogDefect?
    do {
      var first = 0
      while first < lines.count {
        let end = min(lines.count, first + (batchSize ?? 1))
        try withPointers(to: Array(lines[first..<min(lines.count, end + 1)])) { pointers in
          if batchSize == nil {
            try verifier.verify(
              line: pointers[0], lineNumber: first + 1, nextLine: pointers.count > 1 ? pointers[1] : nil)
          } else {
            try verifier.verifyBatch(
              Array(pointers[0..<end - first]), firstLineNumber: first + 1,
              following: pointers.count > end - first ? pointers[end - first] : nil, parts: parts
            ) { count, body in for part in 0..<count { body(part) } }
          }
        }
        first = end
      }
      if !partial.isEmpty { throw LogDefect(line: lines.count + 1, kind: .torn, detail: "the last line is incomplete") }
    } catch {
      defect = (error as! LogDefect)
    }
    return (
      defect,
      LogState(
        nextIndex: verifier.nextIndex, previousTag: verifier.previousTag, openDirections: verifier.openDirections)
    )
  }

  /// Raw buffers of `arrays`, valid during `body`.
  static func withPointers<R>(to arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    let total = arrays.reduce(0) { $0 + $1.count }
    return try withUnsafeTemporaryAllocation(byteCount: max(total, 1), alignment: 1) { storage in
      var pointers: [UnsafeRawBufferPointer] = []
      var offset = 0
      for array in arrays {
        array.withUnsafeBytes { bytes in
          if let base = bytes.baseAddress {
            (storage.baseAddress! + offset).copyMemory(from: base, byteCount: bytes.count)
          }
        }
        pointers.append(UnsafeRawBufferPointer(start: storage.baseAddress! + offset, count: array.count))
        offset += array.count
      }
      return try body(pointers)
    }
  }
}
