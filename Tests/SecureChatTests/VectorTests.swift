import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Runs every vector under docs/vectors through the library, and the sealed-file vectors through
/// the sc-open binary too. Regenerate with SC_WRITE_VECTORS=1 (VectorGenerator.swift).
final class VectorTests: XCTestCase {
  func testEveryVector() throws {
    let vectors = try TestVector.all()
    XCTAssertGreaterThan(vectors.count, 30, "docs/vectors is missing or nearly empty")
    var kinds: [String: Int] = [:]
    for vector in vectors {
      kinds[vector.kind, default: 0] += 1
      switch vector.kind {
      case "sealed-file": try checkSealedFile(vector)
      case "key-file": try checkKeyFile(vector)
      case "handshake": try checkHandshake(vector)
      case "handshake-failure": try checkHandshakeFailure(vector)
      case "session-stream": try checkSessionStream(vector)
      case "log": try checkLog(vector)
      default: XCTFail("\(vector.name): unknown kind '\(vector.kind)'")
      }
    }
    XCTAssertGreaterThan(kinds["sealed-file", default: 0], 20)
    XCTAssertGreaterThan(kinds["key-file", default: 0], 8)
    XCTAssertEqual(kinds["handshake", default: 0], 1)
    XCTAssertGreaterThan(kinds["handshake-failure", default: 0], 10)
    XCTAssertGreaterThan(kinds["session-stream", default: 0], 10)
    XCTAssertGreaterThan(kinds["log", default: 0], 10)
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
    if expectedStatus == 0 {
      XCTAssertEqual(SHA256.hash(Array(result.stdout)).hexString, vector.fields["plaintext-sha256"])
    }
  }

  static func exitStatus(ofClass errorClass: String) -> Int32 {
    ["not-sealed", "unsupported", "invalid-key"].contains(errorClass) ? 2 : 1
  }

  private func checkKeyFile(_ vector: TestVector) throws {
    var key: KeyFile.Key?
    let error = outcome { key = try vector.data.withUnsafeBytes { try KeyFile.parse($0) } }
    XCTAssertEqual(error, vector.expectedError, vector.name)
    if let key {
      XCTAssertEqual(key.type.rawValue, vector.fields["type"], vector.name)
      XCTAssertEqual(key.fingerprint, vector.fields["fingerprint"], vector.name)
      XCTAssertEqual(key.secret.copyForTesting().hexString, vector.fields["key"], vector.name)
    }
  }

  private func hex(_ vector: TestVector, _ field: String) throws -> [UInt8] {
    try XCTUnwrap([UInt8](hexString: vector.fields[field] ?? "x"), "\(vector.name): field \(field)")
  }

  private func randomness(_ vector: TestVector, _ prefix: String) throws -> Handshake.Randomness {
    Handshake.Randomness(
      ephemeralSecret: SecretBytes(copying: try hex(vector, prefix + "ephemeral-secret")),
      challenge: try hex(vector, prefix + "challenge"), nameFrameIV: try hex(vector, prefix + "name-iv"))
  }

  /// Replays the handshake with the vector's fixed inputs: every message and every derived value must match.
  private func checkHandshake(_ vector: TestVector) throws {
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
    let machine = try Handshake(
      role: role, psk: SecretBytes(copying: try hex(vector, "psk")),
      localName: Array(vector.fields["local-name"]!.utf8),
      randomness: try randomness(vector, ""))
    _ = machine.start()
    var failure: String?
    var index = 1
    while let field = vector.fields["receive-\(index)"], failure == nil {
      let message = try XCTUnwrap([UInt8](hexString: field))
      // The tool reads the header first and stops there on a bad type or length, as here.
      do {
        if message.count >= HandshakeMessage.headerSize, let expected = machine.expectedMessage {
          _ = try HandshakeMessage.bodyLength(
            header: Array(message.prefix(3)), expecting: expected, isFirst: index == 1 && role == .responder)
        }
        _ = try machine.receive(message)
      } catch {
        failure = HandshakeVectors.errorClass(error)
      }
      index += 1
    }
    XCTAssertEqual(failure, vector.expectedError, vector.name)
    XCTAssertNil(machine.result, vector.name)
  }

  private func checkSessionStream(_ vector: TestVector) throws {
    let receive = FrameKeys(
      encryption: SecretBytes(copying: try hex(vector, "receive-encryption")),
      authentication: SecretBytes(copying: try hex(vector, "receive-authentication")))
    let session = SessionSecrets(
      role: .responder, sessionID: [UInt8](repeating: 0, count: 16), localName: Array("bob".utf8),
      peerName: Array("alice".utf8), transcriptHash: [UInt8](repeating: 0, count: 32), verificationCode: "",
      send: FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32)), receive: receive)
    let (released, error) = try SessionStreamReader.openAll(vector.data, session: session)
    XCTAssertEqual(error?.vectorClass, vector.expectedError, vector.name)
    XCTAssertEqual(released.count, Int(vector.fields["released-size"] ?? ""), vector.name)
    XCTAssertEqual(SHA256.hash(released).hexString, vector.fields["released-sha256"], vector.name)
  }
}
