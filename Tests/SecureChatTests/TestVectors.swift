import Foundation
import SecureChatCrypto
import SecureChatProtocol

/// One vector file of docs/vectors (format: docs/FORMATS.md §6): `key: value` header lines,
/// a blank line, then the data in hex.
struct TestVector {
  let path: String
  let fields: [String: String]
  let data: [UInt8]

  var name: String { (path as NSString).lastPathComponent }
  var kind: String { fields["kind"] ?? "" }
  /// nil for `expect: success`, else the error class.
  var expectedError: String? {
    let expect = fields["expect"] ?? ""
    return expect == "success" ? nil : String(expect.dropFirst("error ".count))
  }

  init(path: String) throws {
    self.path = path
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let parts = text.components(separatedBy: "\n\n")
    var fields: [String: String] = [:]
    for line in parts[0].split(separator: "\n") {
      let pair = line.split(separator: ":", maxSplits: 1)
      fields[String(pair[0])] = pair.count > 1 ? pair[1].trimmingCharacters(in: .whitespaces) : ""
    }
    self.fields = fields
    let hex = parts.dropFirst().joined().filter { !$0.isWhitespace }
    guard let data = [UInt8](hexString: hex) else { throw CocoaError(.fileReadCorruptFile) }
    self.data = data
  }

  static func render(fields: [(String, String)], data: [UInt8]) -> String {
    var text = fields.map { "\($0.0): \($0.1)" }.joined(separator: "\n") + "\n\n"
    let hex = data.hexString
    var index = hex.startIndex
    while index < hex.endIndex {
      let end = hex.index(index, offsetBy: 64, limitedBy: hex.endIndex) ?? hex.endIndex
      text += hex[index..<end] + "\n"
      index = end
    }
    return text
  }

  static var directory: String {
    let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    return testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("docs/vectors").path
  }

  static func all() throws -> [TestVector] {
    let files = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []
    return try files.filter { $0.hasSuffix(".vector") }.sorted().map { try TestVector(path: directory + "/" + $0) }
  }
}
