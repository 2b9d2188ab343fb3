import Foundation
import SecureChatCrypto
import SecureChatProtocol
import XCTest

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
      default: XCTFail("\(vector.name): unknown kind '\(vector.kind)'")
      }
    }
    XCTAssertGreaterThan(kinds["sealed-file", default: 0], 20)
    XCTAssertGreaterThan(kinds["key-file", default: 0], 8)
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
    FileManager.default.createFile(
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
}
