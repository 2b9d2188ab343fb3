import Foundation
import SecureChatCLI
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Runs every vector under docs/vectors through the library, and through the tools too: sealed
/// files through sc-open -k, session streams through sc-open -s, key files through sc-keygen -y
/// (and the tool that needs the type), logs through sc-logcheck, and the handshake failures that
/// happen on the first message through sc-handshake. Regenerate with SC_WRITE_VECTORS=1
/// (VectorGenerator.swift).
final class VectorTests: XCTestCase {
  /// How many handshake-failure vectors also ran through sc-handshake.
  private var handshakeToolRuns = 0
  /// Each failing vector run through a tool: the table of its class (FORMATS.md §5 or
  /// PROTOCOL.md §3.7), the class, the vector and what the tool wrote on standard error.
  private var toolDiagnostics: [(table: ClassTable, errorClass: String, vector: String, stderr: String)] = []

  /// The directories of docs/vectors, the kinds each may hold, the error classes of each kind, and
  /// the document that lists its vectors.
  static let categories: [String: (kinds: Set<String>, classes: Set<String>, document: String)] = [
    "key-file": (["key-file"], ["invalid-key", "unsupported", "wrong-key-type"], "FORMATS.md"),
    "sealed-file": (
      ["sealed-file"],
      [
        "not-sealed", "unsupported", "truncated", "bad-length", "corrupted", "authentication", "out-of-order",
        "trailing-data", "malformed",
      ], "FORMATS.md"
    ),
    "recipient-file": (
      ["recipient-file"],
      [
        "not-sealed", "unsupported", "truncated", "corrupted", "authentication", "trailing-data", "malformed",
        "wrong-key-type", "bad-public-key",
      ], "FORMATS.md"
    ),
    "session": (
      ["session-stream"],
      [
        "unsupported", "truncated", "bad-length", "corrupted", "authentication", "out-of-order", "trailing-data",
        "malformed", "rejected",
      ], "PROTOCOL.md"
    ),
    "handshake": (
      ["handshake", "handshake-failure", "handshake-responder-keys", "handshake-continuation"],
      [
        "not-a-peer", "unsupported-version", "rejected", "unexpected-message", "malformed", "truncated",
        "invalid-public-key", "authentication",
      ], "PROTOCOL.md"
    ),
    "log": (["log"], ["modified", "inserted", "deleted", "reordered", "torn", "malformed"], "FORMATS.md"),
    "public-log": (
      ["public-log"], ["modified", "inserted", "deleted", "reordered", "forged", "malformed"], "FORMATS.md"
    ),
    "peers-file": (["peers-file"], Set(PeersFileError.Kind.allCases.map(\.rawValue)), "FORMATS.md"),
  ]

  func testEveryVector() throws {
    let vectors = try TestVector.all()
    XCTAssertGreaterThan(vectors.count, 30, "docs/vectors is missing or nearly empty")
    var kinds: [String: Int] = [:]
    var checked: [String] = []
    for vector in vectors {
      kinds[vector.kind, default: 0] += 1
      switch vector.kind {
      case "sealed-file": try checkSealedFile(vector)
      case "recipient-file": try checkRecipientFile(vector)
      case "key-file": try checkKeyFile(vector)
      case "handshake": try checkHandshake(vector)
      case "handshake-failure": try checkHandshakeFailure(vector)
      case "handshake-responder-keys": try checkHandshakeResponderKeys(vector)
      case "handshake-continuation": try checkHandshakeContinuation(vector)
      case "peers-file": try checkPeersFile(vector)
      case "session-stream": try checkSessionStream(vector)
      case "log": try checkLog(vector)
      case "public-log": try checkPublicLog(vector)
      default:
        XCTFail("\(vector.name): unknown kind '\(vector.kind)'")
        continue
      }
      checked.append(vector.path)
    }
    // Every file of every category directory was checked, none twice.
    XCTAssertEqual(checked.sorted(), try Self.vectorFiles().sorted(), "vector files that were not run")
    XCTAssertGreaterThan(kinds["sealed-file", default: 0], 20)
    XCTAssertGreaterThan(kinds["key-file", default: 0], 8)
    XCTAssertGreaterThan(kinds["recipient-file", default: 0], 30)
    XCTAssertEqual(kinds["handshake", default: 0], 2, "version 1 and version 2")
    XCTAssertGreaterThan(kinds["handshake-failure", default: 0], 10)
    XCTAssertGreaterThan(handshakeToolRuns, 25, "handshake failures on the first message run through sc-handshake")
    XCTAssertGreaterThan(kinds["session-stream", default: 0], 10)
    XCTAssertGreaterThan(kinds["log", default: 0], 10)
    XCTAssertGreaterThan(kinds["public-log", default: 0], 10)
    XCTAssertGreaterThan(kinds["handshake-responder-keys", default: 0], 5)
    XCTAssertEqual(kinds["handshake-continuation", default: 0], 5)
    XCTAssertGreaterThan(kinds["peers-file", default: 0], 20)
    try checkClassWordings()
  }

  /// The two tables of error classes with the words each class's diagnostic starts with.
  enum ClassTable: String, CaseIterable {
    case formats = "FORMATS.md"
    case handshake = "PROTOCOL.md"
  }

  /// The classes of a document's table "| class | status | meaning | where | message starts
  /// with |" (FORMATS.md §5, PROTOCOL.md §3.7), each with its words: read from the document,
  /// so that a class added there without a vector fails `checkClassWordings`.
  static func classWordings(_ table: ClassTable) throws -> [String: String] {
    let text = try String(contentsOfFile: TestVector.directory + "/../" + table.rawValue, encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let header = "| class | status | meaning | where | message starts with |"
    let starts = lines.indices.filter { lines[$0] == header }
    XCTAssertEqual(starts.count, 1, "\(table.rawValue): one table of error classes with their words")
    guard let start = starts.first else { return [:] }
    var wordings: [String: String] = [:]
    for line in lines[(start + 2)...] {
      guard line.hasPrefix("|") else { break }
      let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
      func code(_ cell: String) -> String? {
        cell.count > 2 && cell.hasPrefix("`") && cell.hasSuffix("`") ? String(cell.dropFirst().dropLast()) : nil
      }
      guard cells.count == 5, let name = code(cells[0]), let words = code(cells[4]) else {
        XCTFail("\(table.rawValue): a row of the class table that is not `class` | … | `words`: \(line)")
        continue
      }
      wordings[name] = words
    }
    return wordings
  }

  /// FORMATS.md §5 and PROTOCOL.md §3.7: every class of each table is produced by at least one
  /// vector run through a tool, and every tool run on a failing vector writes one error line that
  /// starts with its class's words (after "sc-xxx: error: ").
  private func checkClassWordings() throws {
    for table in ClassTable.allCases {
      let wordings = try Self.classWordings(table)
      XCTAssertGreaterThan(wordings.count, 7, table.rawValue)
      let runs = toolDiagnostics.filter { $0.table == table }
      for (errorClass, words) in wordings {
        XCTAssertTrue(
          runs.contains { $0.errorClass == errorClass },
          "\(table.rawValue): no vector run through a tool gives the class \(errorClass)")
        XCTAssertFalse(
          wordings.contains { $0.key != errorClass && $0.value.hasPrefix(words) },
          "\(table.rawValue): the words of \(errorClass) begin another class's words")
      }
      for run in runs {
        guard let words = wordings[run.errorClass] else {
          XCTFail("\(run.vector): class \(run.errorClass) is not in the table of \(table.rawValue)")
          continue
        }
        let errors = run.stderr.split(separator: "\n").filter { $0.contains(": error: ") }
        XCTAssertEqual(errors.count, 1, "\(run.vector): one error line: \(run.stderr)")
        let message = errors.first.map { $0[$0.range(of: ": error: ")!.upperBound...] } ?? ""
        XCTAssertTrue(
          errors.first?.hasPrefix("sc-") == true && message.hasPrefix(words),
          "\(run.vector): \(run.errorClass) must start with '\(words)': \(run.stderr)")
      }
    }
  }

  /// Every file under docs/vectors, by path: the runner must have checked exactly these.
  static func vectorFiles() throws -> [String] {
    let root = TestVector.directory
    var files: [String] = []
    for category in try FileManager.default.contentsOfDirectory(atPath: root) {
      for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + category) {
        files.append(root + "/" + category + "/" + name)
      }
    }
    return files
  }

  /// No stray file or directory, every vector in the directory of its kind, with an outcome that
  /// is `success` or `error` and a class of that kind, named `good-…` exactly when it must succeed,
  /// and listed by name in the document that describes its category.
  func testEveryVectorFileHasAKnownCategoryAndExpectedOutcome() throws {
    let root = TestVector.directory
    let categories = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
    XCTAssertEqual(Set(categories), Set(Self.categories.keys), "docs/vectors holds exactly the eight categories")
    var documents: [String: String] = [:]
    for document in ["FORMATS.md", "PROTOCOL.md"] {
      documents[document] = try String(contentsOfFile: root + "/../" + document, encoding: .utf8)
    }
    var classesSeen: [String: Set<String>] = [:]
    for category in categories {
      guard let rules = Self.categories[category] else { continue }
      let names = try FileManager.default.contentsOfDirectory(atPath: root + "/" + category)
      XCTAssertFalse(names.isEmpty, category)
      for name in names {
        var isDirectory: ObjCBool = false
        XCTAssertTrue(
          FileManager.default.fileExists(atPath: root + "/" + category + "/" + name, isDirectory: &isDirectory),
          "\(category)/\(name)")
        XCTAssertFalse(isDirectory.boolValue, "\(category)/\(name): a directory inside a category")
        guard name.hasSuffix(".vector") else {
          XCTFail("\(category)/\(name): not a .vector file, so it would not be run")
          continue
        }
        let vector = try TestVector(path: root + "/" + category + "/" + name)
        let base = String(name.dropLast(".vector".count))
        XCTAssertTrue(rules.kinds.contains(vector.kind), "\(category)/\(name): kind '\(vector.kind)'")
        let expect = vector.fields["expect"] ?? ""
        if expect == "success" {
          // A log that verifies by itself but not against an earlier check's state (public-cut-back,
          // FORMATS.md §9.8.7) is not a good one: it says so with `with-state-expect`.
          let failsWithState = vector.fields["with-state-expect"]?.hasPrefix("error ") ?? false
          XCTAssertTrue(
            base.hasPrefix("good-") != failsWithState,
            "\(category)/\(name) succeeds, so its name starts with good- (unless it fails with-state)")
        } else {
          let words = expect.split(separator: " ")
          XCTAssertTrue(
            words.count >= 2 && words[0] == "error" && rules.classes.contains(String(words[1])),
            "\(category)/\(name): expect '\(expect)' is not success or an error class of \(category)")
          if words.count >= 2 { classesSeen[category, default: []].insert(String(words[1])) }
          XCTAssertFalse(base.hasPrefix("good-"), "\(category)/\(name) fails, so its name must not start with good-")
        }
        XCTAssertTrue(
          documents[rules.document]!.contains("`\(base)`"), "\(category)/\(name) is not listed in \(rules.document)")
      }
      // Every error class of the category is shown by a vector (but a peers file over its size
      // limit, which PeersTests checks).
      let missing = rules.classes.subtracting(classesSeen[category] ?? []).subtracting(
        category == "peers-file" ? [PeersFileError.Kind.tooLarge.rawValue] : [])
      XCTAssertTrue(missing.isEmpty, "\(category): no vector for the classes \(missing.sorted())")
    }
  }

  private func outcome(_ body: () throws -> Void) -> String? {
    do {
      try body()
      return nil
    } catch let error as ProtocolError {
      return error.vectorClass
    } catch {
      return "other: \(error)"
    }
  }

  private func checkSealedFile(_ vector: TestVector) throws {
    let key = SecretBytes(copying: [UInt8](hexString: vector.fields["key"]!)!)
    var plaintext: [UInt8] = []
    let error = outcome { plaintext = try SealedFile.open(vector.data, fileKey: key) }
    XCTAssertEqual(error, vector.expectedError, vector.name)
    if error == nil && vector.expectedError == nil {
      XCTAssertEqual(plaintext.count, Int(vector.fields["plaintext-size"] ?? ""), vector.name)
      XCTAssertEqual(SHA256.hash(plaintext).hexString, vector.fields["plaintext-sha256"], vector.name)
    }
    // The tool must agree: exit 0 with the same bytes, or the vector's exit class and no output.
    let expectedStatus: Int32 = vector.expectedError.map { VectorTests.exitStatus(ofClass: $0) } ?? 0
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-vector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let keyPath = directory.appendingPathComponent("key").path
    _ = FileManager.default.createFile(
      atPath: keyPath, contents: Data(KeyFile.serialize(KeyFile.Key(type: .psk, secret: key)).copyForTesting()),
      attributes: [.posixPermissions: 0o600])
    let result = try ToolRunner.run("sc-open", ["-k", keyPath], stdin: .bytes(Data(vector.data)))
    XCTAssertEqual(result.status, expectedStatus, "\(vector.name): sc-open said \(result.stderr)")
    if let expected = vector.expectedError {
      toolDiagnostics.append((.formats, expected, vector.name, result.stderr))
    }
    if expectedStatus == 0 {
      XCTAssertEqual(SHA256.hash(Array(result.stdout)).hexString, vector.fields["plaintext-sha256"])
    }
  }

  static func exitStatus(ofClass errorClass: String) -> Int32 {
    ["not-sealed", "unsupported", "invalid-key", "wrong-key-type", "bad-public-key"].contains(errorClass) ? 2 : 1
  }

  /// FORMATS.md §6.2 `recipient-file`: through the library and through `sc-open -i [--from]`.
  private func checkRecipientFile(_ vector: TestVector) throws {
    let secret = SecretBytes(copying: try hex(vector, "identity"))
    var opened: (plaintext: [UInt8], sender: SealedFileReader.Sender)?
    let error = outcome {
      let expected = try vector.fields["from"].map { try PublicKey(text: $0) }
      let identity = try RecipientFile.Identity(secret: secret)
      opened = try SealedFile.open(vector.data, opener: .identity(identity, expectedSender: expected))
    }
    XCTAssertEqual(error, vector.expectedError, vector.name)
    let senderField = try XCTUnwrap(vector.fields["sender"], vector.name)
    if let opened, vector.expectedError == nil {
      XCTAssertEqual(opened.plaintext.count, Int(vector.fields["plaintext-size"] ?? ""), vector.name)
      XCTAssertEqual(SHA256.hash(opened.plaintext).hexString, vector.fields["plaintext-sha256"], vector.name)
      XCTAssertEqual(
        opened.sender,
        senderField == "anonymous" ? .anonymous : .claimed(try PublicKey(text: senderField), proved: true),
        vector.name)
      // E is X25519(e, 9) for the vector's e (armored vectors are checked through the binary one).
      if !Armor.looksArmored(vector.data.prefix(Armor.beginLine.count)) {
        let e = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: try hex(vector, "ephemeral-secret")))
        XCTAssertEqual(Array(vector.data[8..<40]), e.publicKey, vector.name)
      }
    }
    let expectedStatus: Int32 = vector.expectedError.map { VectorTests.exitStatus(ofClass: $0) } ?? 0
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-rcpvector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let identityPath = directory.appendingPathComponent("identity").path
    _ = FileManager.default.createFile(
      atPath: identityPath,
      contents: Data(KeyFile.serialize(KeyFile.Key(type: .identity, secret: secret)).copyForTesting()),
      attributes: [.posixPermissions: 0o600])
    let outputPath = directory.appendingPathComponent("out").path
    let result = try ToolRunner.run(
      "sc-open", ["-i", identityPath, "-o", outputPath] + (vector.fields["from"].map { ["--from", $0] } ?? []),
      stdin: .bytes(Data(vector.data)))
    XCTAssertEqual(result.status, expectedStatus, "\(vector.name): sc-open -i said \(result.stderr)")
    if let expected = vector.expectedError {
      toolDiagnostics.append((.formats, expected, vector.name, result.stderr))
      XCTAssertFalse(FileManager.default.fileExists(atPath: outputPath), "\(vector.name): an output file was left")
    } else {
      let written = try Data(contentsOf: URL(fileURLWithPath: outputPath))
      XCTAssertEqual(SHA256.hash(Array(written)).hexString, vector.fields["plaintext-sha256"], vector.name)
      let report =
        senderField == "anonymous"
        ? "sc-open: the sender is anonymous\n"
        : "sc-open: sealed by \(senderField) (fingerprint \(try PublicKey(text: senderField).fingerprint))\n"
      XCTAssertEqual(result.stderr, report, vector.name)
    }
  }

  private func checkKeyFile(_ vector: TestVector) throws {
    var key: KeyFile.Key?
    var error = outcome { key = try vector.data.withUnsafeBytes { try KeyFile.parse($0) } }
    let neededType = vector.fields["needed-type"].map { KeyFile.KeyType(rawValue: $0) }
    if let neededType {
      let needed = try XCTUnwrap(neededType, "\(vector.name): needed-type")
      if error == nil, key?.type != needed { error = "wrong-key-type" }
    }
    XCTAssertEqual(error, vector.expectedError, vector.name)
    if vector.expectedError == nil, let key {
      XCTAssertEqual(key.type.rawValue, vector.fields["type"], vector.name)
      XCTAssertEqual(key.fingerprint, vector.fields["fingerprint"], vector.name)
      XCTAssertEqual(
        key.type == .identity ? try PublicKey(identitySecret: key.secret).text : nil, vector.fields["public-key"],
        vector.name)
      XCTAssertEqual(key.secret.copyForTesting().hexString, vector.fields["key"], vector.name)
      XCTAssertEqual(key.logPosition.map { "\($0.nextIndex)" }, vector.fields["next-index"], vector.name)
      XCTAssertEqual(key.logPosition?.previousTag.hexString, vector.fields["previous-tag"], vector.name)
    }

    // The tools: sc-keygen -y reads any type; the tool that needs the type refuses another one.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-keyvector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let keyPath = directory.appendingPathComponent("vector.key").path
    _ = FileManager.default.createFile(
      atPath: keyPath, contents: Data(vector.data), attributes: [.posixPermissions: 0o600])
    if let needed = neededType ?? nil {
      // The library function every tool loads its keys with.
      XCTAssertThrowsError(try KeyLoader.load(keyPath, expecting: needed), vector.name) {
        XCTAssertTrue(
          ($0 as? ToolError)?.message.contains("but a \(needed.rawValue) key is needed here") == true,
          "\(vector.name): \($0)")
      }
      let result: ToolResult
      switch needed {
      case .psk:
        result = try ToolRunner.run("sc-open", ["-k", keyPath])
      case .logVerify:
        result = try ToolRunner.run("sc-logcheck", ["-k", keyPath, "/dev/null"])
      case .logSeal, .logSign:
        let sessionPath = directory.appendingPathComponent("session").path
        try writeSessionFile(
          sessionPath, receive: FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32)))
        result = try ToolRunner.run(
          "sc-open", ["-s", sessionPath, "--log", directory.appendingPathComponent("log").path, "--log-key", keyPath])
      case .identity:
        result = try ToolRunner.run("sc-open", ["-i", keyPath])
      }
      XCTAssertEqual(result.status, 2, "\(vector.name): \(result.stderr)")
      XCTAssertTrue(
        result.stderr.contains("but a \(needed.rawValue) key is needed here"), "\(vector.name): \(result.stderr)")
      toolDiagnostics.append((.formats, "wrong-key-type", vector.name, result.stderr))
    } else {
      let result = try ToolRunner.run("sc-keygen", ["-y", keyPath])
      if vector.expectedError == nil {
        XCTAssertEqual(result.status, 0, "\(vector.name): \(result.stderr)")
        // -y prints an identity's public key (FORMATS.md §12.1), any other key's fingerprint.
        let printed = vector.fields["public-key"] ?? vector.fields["fingerprint"]
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), printed.map { $0 + "\n" })
      } else {
        XCTAssertEqual(result.status, 2, "\(vector.name): sc-keygen -y said \(result.stderr)")
        XCTAssertTrue(result.stdout.isEmpty, vector.name)
        if let expected = vector.expectedError {
          toolDiagnostics.append((.formats, expected, vector.name, result.stderr))
        }
      }
    }
  }

  /// A session file (PROTOCOL.md §5) of a responder whose receive keys are `receive`.
  private func writeSessionFile(_ path: String, receive: FrameKeys) throws {
    let session = SessionSecrets(
      role: .responder, sessionID: [UInt8](repeating: 0x11, count: 16), localName: Array("bob".utf8),
      peerName: Array("alice".utf8), transcriptHash: [UInt8](repeating: 0x22, count: 32),
      verificationCode: "000 000 000 000",
      send: FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32)), receive: receive)
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: path, contents: Data(SessionFile.serialize(session).copyForTesting()),
        attributes: [.posixPermissions: 0o600]))
  }

  private func hex(_ vector: TestVector, _ field: String) throws -> [UInt8] {
    try XCTUnwrap([UInt8](hexString: vector.fields[field] ?? "x"), "\(vector.name): field \(field)")
  }

  private func randomness(_ vector: TestVector, _ prefix: String) throws -> Handshake.Randomness {
    Handshake.Randomness(
      ephemeralSecret: SecretBytes(copying: try hex(vector, prefix + "ephemeral-secret")),
      challenge: try hex(vector, prefix + "challenge"), nameFrameIV: try hex(vector, prefix + "name-iv"))
  }

  /// PROTOCOL.md §11.8: a version 2 vector's side, with its identity, accepting only `peer-key`.
  private func identityMachine(
    _ vector: TestVector, role: Handshake.Role, identity: String, name: String, peerKey: String,
    randomness: Handshake.Randomness?
  ) throws -> Handshake {
    let peer = try PublicKey(text: peerKey)
    return try Handshake(
      role: role, identity: SecretBytes(copying: try hex(vector, identity)), localName: Array(name.utf8),
      acceptPeerKey: { key, _ in
        guard key == peer else { throw HandshakeError.authenticationFailed("not the peer's key") }
      }, randomness: randomness ?? .fresh())
  }

  /// The good version 2 handshake: six messages, each as the vector has it, and the same keys.
  private func checkIdentityHandshake(_ vector: TestVector) throws {
    let initiator = try identityMachine(
      vector, role: .initiator, identity: "initiator-identity-secret", name: vector.fields["initiator-name"]!,
      peerKey: vector.fields["responder-identity-public"]!, randomness: try randomness(vector, "initiator-"))
    let responder = try identityMachine(
      vector, role: .responder, identity: "responder-identity-secret", name: vector.fields["responder-name"]!,
      peerKey: vector.fields["initiator-identity-public"]!, randomness: try randomness(vector, "responder-"))
    var messages: [[UInt8]] = [initiator.start()!]
    XCTAssertNil(responder.start())
    var receiver = responder
    var other = initiator
    while let reply = try receiver.receive(messages.last!) {
      messages.append(reply)
      swap(&receiver, &other)
    }
    XCTAssertEqual(messages.count, 6, vector.name)
    for (message, field) in zip(messages, ["i1", "r1", "i2", "r2", "i3", "r3"]) {
      XCTAssertEqual(message, try hex(vector, "message-" + field), "\(vector.name): \(field)")
    }
    XCTAssertEqual(vector.data, messages.flatMap { $0 })
    try checkSessionResults(vector, initiator, responder)
    XCTAssertEqual(initiator.peerStaticKey?.text, vector.fields["responder-identity-public"])
    XCTAssertEqual(responder.peerStaticKey?.text, vector.fields["initiator-identity-public"])
  }

  /// A side of a handshake-failure vector: version 1 with its pre-shared key, or version 2.
  private func failureMachine(_ vector: TestVector, role: Handshake.Role, fixed: Bool) throws -> Handshake {
    if vector.fields["version"] == "2" {
      return try identityMachine(
        vector, role: role, identity: "identity-secret", name: vector.fields["local-name"]!,
        peerKey: vector.fields["peer-key"]!, randomness: fixed ? try randomness(vector, "") : nil)
    }
    let psk = SecretBytes(copying: try hex(vector, "psk"))
    let name = Array(vector.fields["local-name"]!.utf8)
    return fixed
      ? try Handshake(role: role, psk: psk, localName: name, randomness: try randomness(vector, ""))
      : try Handshake(role: role, psk: psk, localName: name)
  }

  /// Replays the handshake with the vector's fixed inputs: every message and every derived value must match.
  private func checkHandshake(_ vector: TestVector) throws {
    if vector.fields["version"] == "2" { return try checkIdentityHandshake(vector) }
    let psk = SecretBytes(copying: try hex(vector, "psk"))
    let initiator = try Handshake(
      role: .initiator, psk: psk, localName: Array(vector.fields["initiator-name"]!.utf8),
      randomness: try randomness(vector, "initiator-"))
    let responder = try Handshake(
      role: .responder, psk: psk, localName: Array(vector.fields["responder-name"]!.utf8),
      randomness: try randomness(vector, "responder-"))
    let i1 = initiator.start()!
    XCTAssertNil(responder.start())
    XCTAssertEqual(i1, try hex(vector, "message-i1"))
    let r1 = try responder.receive(i1)!
    XCTAssertEqual(r1, try hex(vector, "message-r1"))
    let i2 = try initiator.receive(r1)!
    XCTAssertEqual(i2, try hex(vector, "message-i2"))
    let r2 = try responder.receive(i2)!
    XCTAssertEqual(r2, try hex(vector, "message-r2"))
    XCTAssertNil(try initiator.receive(r2))
    XCTAssertEqual(vector.data, i1 + r1 + i2 + r2)
    try checkSessionResults(vector, initiator, responder)
  }

  /// What both sides of a good handshake vector end with: the same transcript hash, session id
  /// and code, and the session keys of the vector (PROTOCOL.md §8.1, §11.8).
  private func checkSessionResults(_ vector: TestVector, _ initiator: Handshake, _ responder: Handshake) throws {
    for side in [initiator.result!, responder.result!] {
      XCTAssertEqual(side.transcriptHash, try hex(vector, "final-transcript-hash"))
      XCTAssertEqual(side.sessionID, try hex(vector, "session-id"))
      XCTAssertEqual(side.verificationCode, vector.fields["verification-code"])
    }
    let i = initiator.result!
    XCTAssertEqual(i.send.encryption.copyForTesting(), try hex(vector, "initiator-to-responder-encryption"))
    XCTAssertEqual(i.send.authentication.copyForTesting(), try hex(vector, "initiator-to-responder-authentication"))
    XCTAssertEqual(i.receive.encryption.copyForTesting(), try hex(vector, "responder-to-initiator-encryption"))
    XCTAssertEqual(i.receive.authentication.copyForTesting(), try hex(vector, "responder-to-initiator-authentication"))
    XCTAssertEqual(
      responder.result!.send.encryption.copyForTesting(), try hex(vector, "responder-to-initiator-encryption"))
  }

  /// One side, with the vector's fixed inputs, receives the given messages and must fail with the class.
  private func checkHandshakeFailure(_ vector: TestVector) throws {
    let role: Handshake.Role = vector.fields["role"] == "initiator" ? .initiator : .responder
    let machine = try failureMachine(vector, role: role, fixed: true)
    _ = machine.start()
    var failure: String?
    var index = 1
    while let field = vector.fields["receive-\(index)"], failure == nil {
      let message = try XCTUnwrap([UInt8](hexString: field))
      // The tool reads the header first and stops there on a bad type or length, as here.
      do {
        if message.count >= HandshakeMessage.headerSize, machine.expectedMessage != nil {
          _ = try machine.bodyLength(header: Array(message.prefix(3)))
        }
        _ = try machine.receive(message)
      } catch {
        failure = HandshakeVectors.errorClass(error)
      }
      index += 1
    }
    XCTAssertEqual(failure, vector.expectedError, vector.name)
    XCTAssertNil(machine.result, vector.name)
    // PROTOCOL.md §8.2: the side fails on the last message; none follows the failing one.
    XCTAssertNil(vector.fields["receive-\(index)"], "\(vector.name): a message after the one that fails")
    // A failure on the first message does not depend on this side's random values, so the tool,
    // which draws its own, must fail the same way on that message alone. A failure on a later
    // message is run through the tool too when a side with fresh random values fails on the same
    // message with the same class (the commitment check K1, a bad length, ...).
    guard failure != nil, let expected = vector.expectedError else { return }
    let messages = try (1..<index).map { try hex(vector, "receive-\($0)") }
    if index > 2 {
      let fresh = try failureMachine(vector, role: role, fixed: false)
      _ = fresh.start()
      var freshFailure: String?
      for (number, message) in messages.enumerated() where freshFailure == nil {
        do {
          if message.count >= HandshakeMessage.headerSize, fresh.expectedMessage != nil {
            _ = try fresh.bodyLength(header: Array(message.prefix(3)))
          }
          _ = try fresh.receive(message)
        } catch {
          freshFailure = number == messages.count - 1 ? HandshakeVectors.errorClass(error) : "earlier"
        }
      }
      guard freshFailure == expected else { return }
    }
    try checkHandshakeFailureWithTool(vector, role: role, messages: messages, errorClass: expected)
  }

  /// sc-handshake with the vector's key and name reads `message` and nothing more: it must exit
  /// with the status of the class, write no session file, and send its I1 (initiator) and then the
  /// abort message, unless the peer aborted or the stream was cut (PROTOCOL.md §3.6).
  private func checkHandshakeFailureWithTool(
    _ vector: TestVector, role: Handshake.Role, messages: [[UInt8]], errorClass: String
  ) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-hsvector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let keyPath = directory.appendingPathComponent("vector.key").path
    let inputPath = directory.appendingPathComponent("input").path
    let sessionPath = directory.appendingPathComponent("session").path
    // Version 2: the side's identity, and the peer key it accepts (PROTOCOL.md §11.6).
    let isIdentity = vector.fields["version"] == "2"
    let key =
      isIdentity
      ? KeyFile.Key(type: .identity, secret: SecretBytes(copying: try hex(vector, "identity-secret")))
      : KeyFile.Key(type: .psk, secret: SecretBytes(copying: try hex(vector, "psk")))
    _ = FileManager.default.createFile(
      atPath: keyPath, contents: Data(KeyFile.serialize(key).copyForTesting()), attributes: [.posixPermissions: 0o600])
    _ = FileManager.default.createFile(atPath: inputPath, contents: Data(messages.flatMap { $0 }))
    let keyArguments = isIdentity ? ["-i", keyPath, "--peer-key", vector.fields["peer-key"]!] : ["-k", keyPath]
    let result = try ToolRunner.run(
      "sc-handshake",
      [role == .initiator ? "--initiator" : "--responder"] + keyArguments + [
        "-n", vector.fields["local-name"]!, "-o", sessionPath, "--timeout", "20",
      ],
      stdin: .file(inputPath))
    handshakeToolRuns += 1
    let status: Int32 = ["not-a-peer", "unsupported-version"].contains(errorClass) ? 2 : 1
    XCTAssertEqual(result.status, status, "\(vector.name): sc-handshake said \(result.stderr)")
    toolDiagnostics.append((.handshake, errorClass, vector.name, result.stderr))
    XCTAssertFalse(FileManager.default.fileExists(atPath: sessionPath), "\(vector.name): a session file was written")
    var sent = Array(result.stdout)
    if role == .initiator {
      XCTAssertEqual(
        Array(sent.prefix(4)), [0x01, 0x00, 0x41, isIdentity ? 0x02 : 0x01], "\(vector.name): the initiator's I1")
      sent = Array(sent.dropFirst(68))
    }
    let abort = ["rejected", "truncated"].contains(errorClass) ? [] : HandshakeMessage.abortMessage
    if messages.count == 1 {
      XCTAssertEqual(sent, abort, "\(vector.name): what sc-handshake sent after its failure")
    } else {
      // Its own messages before the failing one (R1, or I2), then the abort unless none is due.
      XCTAssertGreaterThan(sent.count, 3, vector.name)
      XCTAssertEqual(
        Array(sent.suffix(3)) == HandshakeMessage.abortMessage, !abort.isEmpty,
        "\(vector.name): what sc-handshake sent after its failure")
    }
  }

  /// PROTOCOL.md §8.5: the continued keys are recomputed from the primitives here; then both
  /// sides run with the keys sc-handshake gives them, and every message must match, up to the
  /// side that must fail.
  private func checkHandshakeContinuation(_ vector: TestVector) throws {
    func secret(_ side: String) throws -> [UInt8]? {
      vector.fields[side + "-continuation-secret"] == "none" ? nil : try hex(vector, side + "-continuation-secret")
    }
    let psk = try hex(vector, "psk")
    for side in ["initiator", "responder"] {
      guard let cs = try secret(side) else { continue }
      let key = try HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: psk + cs), salt: [], info: Array("SecureChat v1 continued key".utf8),
        outputCount: 32)
      XCTAssertEqual(key.copyForTesting(), try hex(vector, side + "-continued-key"), vector.name)
    }
    func keys(_ role: Handshake.Role, _ cs: [UInt8]?, peer: String) throws -> [Handshake.PeerKey] {
      let plain = Handshake.PeerKey(psk: SecretBytes(copying: psk), expectedName: Array(peer.utf8))
      guard let cs else { return [plain] }
      let continuation = ContinuationFile.Contents(
        role: role, sessionID: [UInt8](repeating: 0, count: 16), secret: SecretBytes(copying: cs),
        localName: [0x78], peerName: Array(peer.utf8))
      let continued = Handshake.PeerKey(
        psk: try continuation.continuedKey(psk: SecretBytes(copying: psk)), expectedName: Array(peer.utf8))
      return role == .initiator ? [continued] : [continued, plain]
    }
    let initiator = try Handshake(
      role: .initiator, keys: try keys(.initiator, try secret("initiator"), peer: "bob"),
      localName: Array(vector.fields["initiator-name"]!.utf8), randomness: try randomness(vector, "initiator-"))
    let responder = try Handshake(
      role: .responder, keys: try keys(.responder, try secret("responder"), peer: "alice"),
      localName: Array(vector.fields["responder-name"]!.utf8), randomness: try randomness(vector, "responder-"))
    let i1 = initiator.start()!
    _ = responder.start()
    XCTAssertEqual(i1, try hex(vector, "message-i1"), vector.name)
    let r1 = try responder.receive(i1)!
    XCTAssertEqual(r1, try hex(vector, "message-r1"), vector.name)
    let i2 = try initiator.receive(r1)!
    XCTAssertEqual(i2, try hex(vector, "message-i2"), vector.name)
    var failure: String?
    var r2: [UInt8]?
    if vector.fields["failing-side"] == "initiator" {
      // The R2 of a responder that is not the honest one of this vector (§8.5).
      r2 = try hex(vector, "message-r2")
    } else {
      do { r2 = try responder.receive(i2) } catch { failure = HandshakeVectors.errorClass(error) }
    }
    if let r2, failure == nil {
      XCTAssertEqual(r2, try hex(vector, "message-r2"), vector.name)
      do {
        let reply = try initiator.receive(r2)
        XCTAssertNil(reply, vector.name)
      } catch { failure = HandshakeVectors.errorClass(error) }
    }
    XCTAssertEqual(failure, vector.expectedError, vector.name)
    XCTAssertEqual(vector.data, i1 + r1 + i2 + (r2 ?? []), vector.name)
    guard failure == nil, let a = initiator.result, let b = responder.result else { return }
    let responderSecret = try secret("responder")
    let continued = responder.selectedKeyIndex == 0 && responderSecret != nil
    XCTAssertEqual(vector.fields["continued"], continued ? "yes" : "no", vector.name)
    for side in [a, b] {
      XCTAssertEqual(side.transcriptHash, try hex(vector, "final-transcript-hash"), vector.name)
      XCTAssertEqual(side.sessionID, try hex(vector, "session-id"), vector.name)
      XCTAssertEqual(side.verificationCode, vector.fields["verification-code"], vector.name)
      XCTAssertEqual(side.continuationSecret.copyForTesting(), try hex(vector, "continuation-secret"), vector.name)
    }
    XCTAssertEqual(a.send.encryption.copyForTesting(), try hex(vector, "initiator-to-responder-encryption"))
  }

  private func checkSessionStream(_ vector: TestVector) throws {
    let receive = FrameKeys(
      encryption: SecretBytes(copying: try hex(vector, "receive-encryption")),
      authentication: SecretBytes(copying: try hex(vector, "receive-authentication")))
    let session = SessionSecrets(
      role: .responder, sessionID: [UInt8](repeating: 0, count: 16), localName: Array("bob".utf8),
      peerName: Array("alice".utf8), transcriptHash: [UInt8](repeating: 0, count: 32), verificationCode: "",
      send: FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32)), receive: receive)
    let opened = try SessionStreamReader.open(vector.data, session: session)
    let released = opened.plaintext
    XCTAssertEqual(opened.error?.vectorClass, vector.expectedError, vector.name)
    XCTAssertEqual(released.count, Int(vector.fields["released-size"] ?? ""), vector.name)
    XCTAssertEqual(SHA256.hash(released).hexString, vector.fields["released-sha256"], vector.name)
    // Receipts (PROTOCOL.md §6.5): the message numbers the peer acknowledged, in order; none when
    // the field is absent.
    let receipts = (vector.fields["receipts"] ?? "").split(separator: " ").map { UInt64($0) }
    XCTAssertFalse(receipts.contains(nil), "\(vector.name): receipts field")
    XCTAssertEqual(opened.receipts, receipts.compactMap { $0 }, vector.name)

    // sc-open -s with a session file of these receive keys, reading the stream from a file.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-ssvector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let sessionPath = directory.appendingPathComponent("session").path
    let streamPath = directory.appendingPathComponent("stream").path
    try writeSessionFile(sessionPath, receive: receive)
    _ = FileManager.default.createFile(atPath: streamPath, contents: Data(vector.data))
    // --delivered lists the receipts; --receipts-to the number of every message written.
    let deliveredPath = directory.appendingPathComponent("delivered").path
    let shownPath = directory.appendingPathComponent("shown").path
    let result = try ToolRunner.run(
      "sc-open", ["-s", sessionPath, "--delivered", deliveredPath, "--receipts-to", shownPath], stdin: .file(streamPath)
    )
    let status = vector.expectedError.map { VectorTests.exitStatus(ofClass: $0) } ?? 0
    XCTAssertEqual(result.status, status, "\(vector.name): sc-open -s said \(result.stderr)")
    if let expected = vector.expectedError {
      toolDiagnostics.append((.formats, expected, vector.name, result.stderr))
    }
    XCTAssertEqual(result.stdout.count, Int(vector.fields["released-size"] ?? ""), "\(vector.name): sc-open -s output")
    XCTAssertEqual(SHA256.hash(Array(result.stdout)).hexString, vector.fields["released-sha256"], vector.name)
    XCTAssertEqual(
      try? String(contentsOfFile: deliveredPath, encoding: .utf8), receipts.map { "\($0 ?? 0)\n" }.joined(),
      "\(vector.name): --delivered")
    XCTAssertEqual(
      try? String(contentsOfFile: shownPath, encoding: .utf8), (0..<opened.messageCount).map { "\($0)\n" }.joined(),
      "\(vector.name): --receipts-to")
  }
}
