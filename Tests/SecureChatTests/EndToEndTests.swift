import Foundation
import SecureChatCrypto
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// End-to-end tests of the built tools (sc-keygen, sc-seal, sc-open) against /work/notes/SPEC.md
/// and docs/FORMATS.md: every test runs the real binaries (see ToolRunner.swift) in its own
/// temporary directory. Sizes and layouts are computed from the specification, not taken from
/// the implementation; the few cryptographic checks use OpenSSL through SecureChatCrypto's
/// primitives (HKDF, HMAC, AES, SHA-256) with the derivations written out here from the spec.
final class EndToEndTests: XCTestCase {
  // MARK: - Constants from the specification

  static let fileHeaderSize = 72
  static let frameOverhead = 68
  static let chunkSize = 65536
  static let fullFrameSize = 65620
  static let beginLine = "-----BEGIN SECURECHAT SEALED FILE-----"
  static let endLine = "-----END SECURECHAT SEALED FILE-----"

  /// The sealed size of a plaintext of `count` bytes (SPEC "Sealed file"; FORMATS §3.5):
  /// 72 + the frames, each 68 + the padded ciphertext (PKCS#7 adds 1..16 bytes).
  static func sealedSize(plaintextCount count: Int) -> Int {
    let frames = max(1, (count + chunkSize - 1) / chunkSize)
    var total = fileHeaderSize
    var left = count
    for _ in 0..<frames {
      let chunk = min(left, chunkSize)
      total += frameOverhead + (chunk / 16 + 1) * 16
      left -= chunk
    }
    return total
  }

  // MARK: - Fixture

  private var directory = ""

  override func setUpWithError() throws {
    try super.setUpWithError()
    _ = try ToolRunner.path(of: "sc-open")  // fails every test clearly if the tools are not built
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "sc-e2e-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  @discardableResult
  private func write(_ name: String, _ data: Data, mode: mode_t = 0o600) throws -> String {
    let file = path(name)
    try data.write(to: URL(fileURLWithPath: file))
    guard chmod(file, mode) == 0 else { throw ToolRunnerError(description: "chmod \(file) failed") }
    return file
  }

  @discardableResult
  private func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
    try write(name, Data(text.utf8), mode: mode)
  }

  private func read(_ file: String) -> Data? { FileManager.default.contents(atPath: file) }

  private func exists(_ file: String) -> Bool { FileManager.default.fileExists(atPath: file) }

  /// The names in the temporary directory (to catch leftover temporary outputs).
  private func listing() -> Set<String> {
    Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
  }

  private func randomBytes(_ count: Int) -> Data {
    guard count > 0 else { return Data() }
    let handle = FileHandle(forReadingAtPath: "/dev/urandom")!
    defer { try? handle.close() }
    var data = Data()
    while data.count < count { data.append(handle.readData(ofLength: count - data.count)) }
    return data
  }

  private func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
  }

  private func bytes(fromHex text: String) -> [UInt8] {
    let digits = Array(text.utf8).filter { ![9, 10, 13, 32].contains($0) }
    return stride(from: 0, to: digits.count, by: 2).map {
      UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
    }
  }

  struct KeyFixture {
    let path: String
    let key: [UInt8]
    var hexKey: String { key.map { String(format: "%02x", $0) }.joined() }
  }

  /// A psk key file written by the test itself (SPEC "Key file"), mode 0600.
  private func makeKey(_ name: String = "test.key", key: [UInt8]? = nil) throws -> KeyFixture {
    let key = key ?? [UInt8](randomBytes(32))
    let file = try write(name, "# a test key\nsecurechat-key-v1 psk \(hex(key))\n")
    return KeyFixture(path: file, key: key)
  }

  // MARK: - Running the tools

  private func run(
    _ tool: String, _ arguments: [String], stdin: ToolInput = .none, environment: [String: String] = [:],
    in workingDirectory: String? = nil
  ) throws -> ToolResult {
    try ToolRunner.run(tool, arguments, stdin: stdin, environment: environment, directory: workingDirectory)
  }

  /// Seals `plaintext` through a pipe; throws (failing the test) if sc-seal fails.
  private func seal(_ plaintext: Data, key: KeyFixture, armored: Bool = false) throws -> Data {
    let result = try run("sc-seal", ["-k", key.path] + (armored ? ["-a"] : []), stdin: .bytes(plaintext))
    guard result.status == 0, result.stderr.isEmpty else {
      throw ToolRunnerError(description: "sc-seal failed (\(result.status)): \(result.stderr)")
    }
    return result.stdout
  }

  private func assertSuccess(
    _ result: ToolResult, _ what: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(result.status, 0, "\(what): \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stderr, "", "\(what): nothing on stderr on success", file: file, line: line)
  }

  /// Checks DESIGN.md's diagnostics: exactly one `tool: error: …` line, then only
  /// `tool: hint: …` lines, each lowercase at the start and without a trailing period.
  /// `mentions`: each must appear in the error line; `mentionsAny`: at least one must.
  private func assertDiagnostic(
    _ stderr: String, tool: String, mentions: [String] = [], mentionsAny: [String] = [], _ what: String = "",
    file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertTrue(
      stderr.hasSuffix("\n"), "\(what): stderr should end in a newline: \(stderr.debugDescription)", file: file,
      line: line)
    let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    guard let first = lines.first, first.hasPrefix("\(tool): error: ") else {
      XCTFail(
        "\(what): stderr should start with '\(tool): error: ': \(stderr.debugDescription)", file: file, line: line)
      return
    }
    for (index, text) in lines.enumerated() {
      let prefix = index == 0 ? "\(tool): error: " : "\(tool): hint: "
      guard text.hasPrefix(prefix) else {
        XCTFail(
          "\(what): line \(index + 1) should start with '\(prefix)': \(stderr.debugDescription)", file: file, line: line
        )
        continue
      }
      let message = text.dropFirst(prefix.count)
      XCTAssertFalse(message.isEmpty, "\(what): empty diagnostic", file: file, line: line)
      XCTAssertFalse(message.hasSuffix("."), "\(what): trailing period: \(text)", file: file, line: line)
      XCTAssertFalse(message.first?.isUppercase ?? false, "\(what): not lowercase: \(text)", file: file, line: line)
    }
    let errorLine = String(first)
    for word in mentions {
      XCTAssertTrue(
        errorLine.contains(word), "\(what): error should mention '\(word)': \(errorLine)", file: file, line: line)
    }
    if !mentionsAny.isEmpty {
      XCTAssertTrue(
        mentionsAny.contains(where: { errorLine.contains($0) }),
        "\(what): error should mention one of \(mentionsAny): \(errorLine)", file: file, line: line)
    }
  }

  private func assertFailure(
    _ result: ToolResult, tool: String, status: Int32, mentions: [String] = [], mentionsAny: [String] = [],
    _ what: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(result.status, status, "\(what): exit status; stderr: \(result.stderr)", file: file, line: line)
    assertDiagnostic(
      result.stderr, tool: tool, mentions: mentions, mentionsAny: mentionsAny, what, file: file, line: line)
  }

  /// Opens `sealed` twice and checks that both fail with `status`:
  /// - with `-o OUT` from a file: no OUT and no temporary file left, nothing on stdout;
  /// - from stdin to stdout: at most `releasedLimit` bytes on stdout, and those a prefix of
  ///   `plaintext` (only frames that verified may be released).
  private func assertOpenFails(
    _ sealed: Data, key: KeyFixture, status: Int32, mentions: [String] = [], mentionsAny: [String] = [],
    releasedLimit: Int = 0, plaintext: Data? = nil, _ what: String, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let input = try write("damaged.sc", sealed)
    let output = path("opened.out")
    let before = listing()
    let toFile = try run("sc-open", ["-k", key.path, "-o", output, input])
    assertFailure(
      toFile, tool: "sc-open", status: status, mentions: mentions, mentionsAny: mentionsAny, "\(what) (-o)", file: file,
      line: line)
    XCTAssertEqual(toFile.stdout.count, 0, "\(what) (-o): nothing on stdout", file: file, line: line)
    XCTAssertFalse(exists(output), "\(what): a failed open must leave no output file", file: file, line: line)
    XCTAssertEqual(listing(), before, "\(what): a failed open must leave no temporary file", file: file, line: line)

    let toStdout = try run("sc-open", ["-k", key.path], stdin: .bytes(sealed))
    assertFailure(
      toStdout, tool: "sc-open", status: status, mentions: mentions, mentionsAny: mentionsAny, "\(what) (stdout)",
      file: file, line: line)
    XCTAssertLessThanOrEqual(
      toStdout.stdout.count, releasedLimit, "\(what): only plaintext of verified frames may be written",
      file: file, line: line)
    if let plaintext, toStdout.stdout.count > 0 {
      XCTAssertEqual(
        toStdout.stdout, plaintext.prefix(toStdout.stdout.count), "\(what): released bytes must be authentic",
        file: file, line: line)
    }
    try FileManager.default.removeItem(atPath: input)
  }

  /// Where the frames of a binary sealed file are, from each frame's length field.
  private func frameRanges(_ sealed: Data) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    var offset = Self.fileHeaderSize
    while offset + 16 <= sealed.count {
      let length = sealed[offset + 12..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
      ranges.append(offset..<offset + Self.frameOverhead + length)
      offset += Self.frameOverhead + length
    }
    return ranges
  }

  /// Checks the armor layout of SPEC "Armor" and returns the binary it carries.
  private func unarmor(
    _ text: Data, _ what: String, file: StaticString = #filePath, line: UInt = #line
  ) -> Data? {
    let string = String(decoding: text, as: UTF8.self)
    XCTAssertFalse(string.contains("\r"), "\(what): sc-seal writes no CR", file: file, line: line)
    var lines = string.components(separatedBy: "\n")
    guard lines.count >= 4, lines.removeLast() == "", lines.first == Self.beginLine, lines.last == Self.endLine else {
      XCTFail("\(what): not BEGIN line, body, END line, final LF: \(string.prefix(200))", file: file, line: line)
      return nil
    }
    let body = lines.dropFirst().dropLast()
    for (index, bodyLine) in body.enumerated() {
      let isLast = index == body.count - 1
      if isLast {
        XCTAssertTrue(
          (1...64).contains(bodyLine.count), "\(what): last line length \(bodyLine.count)", file: file, line: line)
      } else if bodyLine.count != 64 {
        XCTFail("\(what): body line \(index + 1) has \(bodyLine.count) characters, not 64", file: file, line: line)
        return nil
      }
    }
    guard let binary = Data(base64Encoded: body.joined()) else {
      XCTFail("\(what): the body is not base64", file: file, line: line)
      return nil
    }
    return binary
  }

  // MARK: - CRC-32 (IEEE, written here so that tests can repair a CRC after a change)

  private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    bytes.withUnsafeBufferPointer { buffer in
      for byte in buffer { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
    }
    return c ^ 0xFFFF_FFFF
  }

  /// Recomputes the CRC of the frame in `range` of `sealed` (what an attacker can always do).
  private func repairCRC(_ sealed: inout Data, frame range: Range<Int>) {
    let crc = Self.crc32([UInt8](sealed[range.lowerBound..<range.upperBound - 4]))
    for i in 0..<4 { sealed[range.upperBound - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
  }

  // MARK: - Tool runner and binaries

  func testToolRunnerFindsTheToolsAndReportsStatus() throws {
    for tool in ToolRunner.toolNames {
      XCTAssertTrue(FileManager.default.isExecutableFile(atPath: try ToolRunner.path(of: tool)), tool)
    }
    let shell = try ToolRunner.runExecutable(
      "/bin/sh", ["-c", "cat; echo oops >&2; exit 3"], stdin: .bytes(Data("abc".utf8)))
    XCTAssertEqual(shell.status, 3)
    XCTAssertEqual(shell.stdout, Data("abc".utf8))
    XCTAssertEqual(shell.stderr, "oops\n")
    let killed = try ToolRunner.runExecutable("/bin/sh", ["-c", "kill -9 $$"], stdin: .none)
    XCTAssertEqual(killed.status, 128 + 9)
    XCTAssertEqual(Self.crc32(Array("123456789".utf8)), 0xCBF4_3926)
  }

  // MARK: - Round trips and sizes

  static let roundTripSizes = [0, 1, 15, 16, 17, 65535, 65536, 65537, 3 * 65536 + 5]

  func testSealedSizeFormula() {
    // FORMATS §3.5 and the worked example: an empty file and "hello\n" are 156 bytes.
    XCTAssertEqual(Self.sealedSize(plaintextCount: 0), 156)
    XCTAssertEqual(Self.sealedSize(plaintextCount: 6), 156)
    XCTAssertEqual(Self.sealedSize(plaintextCount: 16), 172)
    XCTAssertEqual(Self.sealedSize(plaintextCount: 65536), 72 + 68 + 65552)
    XCTAssertEqual(Self.sealedSize(plaintextCount: 65537), 72 + 65620 + 84)
  }

  func testRoundTripThroughFiles() throws {
    let key = try makeKey()
    for size in Self.roundTripSizes {
      let plaintext = randomBytes(size)
      let input = try write("plain-\(size)", plaintext)
      for armored in [false, true] {
        let what = "\(size) bytes\(armored ? ", armored" : "")"
        let sealedPath = path("sealed-\(size)\(armored ? ".asc" : ".sc")")
        let sealing = try run("sc-seal", ["-k", key.path] + (armored ? ["-a"] : []) + ["-o", sealedPath, input])
        assertSuccess(sealing, "sc-seal \(what)")
        XCTAssertEqual(sealing.stdout.count, 0, "\(what): -o leaves stdout empty")
        guard let sealed = read(sealedPath) else { return XCTFail("\(what): no sealed file") }
        let binary = armored ? unarmor(sealed, what) : sealed
        XCTAssertEqual(binary?.count, Self.sealedSize(plaintextCount: size), "\(what): sealed size")
        XCTAssertEqual(binary?.prefix(8), Data("SCSEAL".utf8) + [1, 0], "\(what): magic, version, reserved")

        let output = path("opened-\(size)")
        let opening = try run("sc-open", ["-k", key.path, "-o", output, sealedPath])
        assertSuccess(opening, "sc-open \(what)")
        XCTAssertEqual(opening.stdout.count, 0, "\(what): -o leaves stdout empty")
        XCTAssertEqual(read(output), plaintext, "\(what): round trip")
        try FileManager.default.removeItem(atPath: output)
      }
    }
  }

  func testRoundTripThroughPipes() throws {
    let key = try makeKey()
    for size in Self.roundTripSizes {
      let plaintext = randomBytes(size)
      for armored in [false, true] {
        let what = "\(size) bytes\(armored ? ", armored" : "") via stdin/stdout"
        let sealed = try seal(plaintext, key: key, armored: armored)
        let binary = armored ? unarmor(sealed, what) : sealed
        XCTAssertEqual(binary?.count, Self.sealedSize(plaintextCount: size), "\(what): sealed size")
        let opening = try run("sc-open", ["-k", key.path], stdin: .bytes(sealed))
        assertSuccess(opening, what)
        XCTAssertEqual(opening.stdout, plaintext, what)
      }
    }
  }

  func testRoundTripTenMebibytes() throws {
    let key = try makeKey()
    let size = 10 << 20
    let plaintext = randomBytes(size)
    let input = try write("big", plaintext)
    for armored in [false, true] {
      let what = "10 MiB\(armored ? ", armored" : "")"
      // Files in, files out.
      let sealedPath = path("big.sealed")
      assertSuccess(
        try run("sc-seal", ["-k", key.path] + (armored ? ["-a"] : []) + ["-o", sealedPath, input]), "seal \(what)")
      guard let sealed = read(sealedPath) else { return XCTFail("\(what): no sealed file") }
      let binary = armored ? unarmor(sealed, what) : sealed
      XCTAssertEqual(binary?.count, Self.sealedSize(plaintextCount: size), "\(what): sealed size")
      XCTAssertEqual(binary.map(frameRanges)?.count, 160, "\(what): 160 frames")
      let output = path("big.out")
      assertSuccess(try run("sc-open", ["-k", key.path, "-o", output, sealedPath]), "open \(what)")
      XCTAssertTrue(read(output) == plaintext, "\(what): round trip through files")
      try FileManager.default.removeItem(atPath: output)
      // Pipes in, pipes out.
      let piped = try seal(plaintext, key: key, armored: armored)
      XCTAssertEqual(piped.count, sealed.count, "\(what): same size through a pipe")
      let opening = try run("sc-open", ["-k", key.path], stdin: .bytes(piped))
      assertSuccess(opening, "open \(what) via pipes")
      XCTAssertTrue(opening.stdout == plaintext, "\(what): round trip through pipes")
    }
  }

  func testOutputToRegularFileReplacesItOnlyOnSuccess() throws {
    let key = try makeKey()
    let plaintext = randomBytes(100_000)
    let sealed = try write("in.sc", try seal(plaintext, key: key))
    // An existing file of the user's that others cannot access (OutputTargetTests: the others).
    let output = try write("out", "old contents\n", mode: 0o600)
    assertSuccess(try run("sc-open", ["-k", key.path, "-o", output, sealed]), "open over an existing file")
    XCTAssertEqual(read(output), plaintext)

    // A failed open leaves an existing output untouched (the temporary file is never renamed).
    try write("out", "old contents\n", mode: 0o600)
    var damaged = read(sealed)!
    damaged[damaged.count - 10] ^= 0xFF
    let damagedPath = try write("damaged.sc", damaged)
    let before = listing()
    let failed = try run("sc-open", ["-k", key.path, "-o", output, damagedPath])
    assertFailure(failed, tool: "sc-open", status: 1, "damaged last frame over an existing output")
    XCTAssertEqual(read(output), Data("old contents\n".utf8), "an existing output must not be replaced on failure")
    XCTAssertEqual(listing(), before, "no temporary file left")

    // A relative -o is created in the working directory, next to its temporary file.
    assertSuccess(try run("sc-open", ["-k", key.path, "-o", "relative.out", sealed], in: directory), "relative -o")
    XCTAssertEqual(read(path("relative.out")), plaintext)

    // Devices are written directly: /dev/null, and /dev/stdout (a pipe here).
    assertSuccess(try run("sc-open", ["-k", key.path, "-o", "/dev/null", sealed]), "-o /dev/null")
    let devStdout = try run("sc-open", ["-k", key.path, "-o", "/dev/stdout", sealed])
    assertSuccess(devStdout, "-o /dev/stdout")
    XCTAssertEqual(devStdout.stdout, plaintext)
    let sealToFD = try run("sc-seal", ["-k", key.path, "-o", "/dev/fd/1"], stdin: .bytes(plaintext))
    assertSuccess(sealToFD, "sc-seal -o /dev/fd/1")
    XCTAssertEqual(sealToFD.stdout.count, Self.sealedSize(plaintextCount: plaintext.count))
  }

  func testDevStdinAndDevFdPaths() throws {
    let key = try makeKey()
    let plaintext = randomBytes(70_000)
    let plainPath = try write("plain", plaintext)
    // Input operand /dev/stdin (a regular file behind descriptor 0) and /dev/fd/0 (a pipe).
    let sealing = try run("sc-seal", ["-k", key.path, "/dev/stdin"], stdin: .file(plainPath))
    assertSuccess(sealing, "sc-seal /dev/stdin")
    let sealedPath = try write("sealed", sealing.stdout)
    let opening = try run("sc-open", ["-k", key.path, "/dev/fd/0"], stdin: .bytes(sealing.stdout))
    assertSuccess(opening, "sc-open /dev/fd/0")
    XCTAssertEqual(opening.stdout, plaintext)
    // The key from /dev/fd/0 (a pipe: no mode to check) and from /dev/stdin (the key file itself).
    let keyText = read(key.path)!
    let keyFromFD = try run("sc-open", ["-k", "/dev/fd/0", sealedPath], stdin: .bytes(keyText))
    assertSuccess(keyFromFD, "-k /dev/fd/0")
    XCTAssertEqual(keyFromFD.stdout, plaintext)
    let keyFromStdin = try run("sc-open", ["-k", "/dev/stdin", sealedPath], stdin: .file(key.path))
    assertSuccess(keyFromStdin, "-k /dev/stdin")
    XCTAssertEqual(keyFromStdin.stdout, plaintext)
  }

  // MARK: - Format conformance

  /// The worked example of docs/FORMATS.md §6 (checked independently with Python's hashlib/hmac
  /// and `openssl enc` when this test was written): key 00..1f, salt 40..5f, IV 60..6f, "hello\n".
  static let exampleKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
  static let exampleSealed = """
    53435345414c0100404142434445464748494a4b4c4d4e4f5051525354555657
    58595a5b5c5d5e5f5497c0f64cbb784550a49ae37be761aca59477863ed4b42e
    27fe6b3e90dad394010101000000000000000000000000106061626364656667
    68696a6b6c6d6e6fa8e70ec3df4edf62a76fdf1e4102708a55c5659ed3492a77
    7c134e5b8b6500254c4b99ce840717978ac9d35c8bc605b480d1acb0
    """
  static let exampleArmored = """
    -----BEGIN SECURECHAT SEALED FILE-----
    U0NTRUFMAQBAQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX1SXwPZMu3hF
    UKSa43vnYayllHeGPtS0Lif+az6Q2tOUAQEBAAAAAAAAAAAAAAAAEGBhYmNkZWZn
    aGlqa2xtbm+o5w7D307fYqdv3x5BAnCKVcVlntNJKnd8E05bi2UAJUxLmc6EBxeX
    isnTXIvGBbSA0ayw
    -----END SECURECHAT SEALED FILE-----

    """

  func testWorkedExampleOpens() throws {
    let key = try makeKey(key: bytes(fromHex: Self.exampleKey))
    let sealed = Data(bytes(fromHex: Self.exampleSealed))
    XCTAssertEqual(sealed.count, 156)
    let binary = try run("sc-open", ["-k", key.path], stdin: .bytes(sealed))
    assertSuccess(binary, "worked example")
    XCTAssertEqual(binary.stdout, Data("hello\n".utf8))
    let armored = try run("sc-open", ["-k", key.path], stdin: .bytes(Data(Self.exampleArmored.utf8)))
    assertSuccess(armored, "worked example, armored")
    XCTAssertEqual(armored.stdout, Data("hello\n".utf8))
    let fingerprint = try run("sc-keygen", ["-y", key.path])
    assertSuccess(fingerprint, "sc-keygen -y")
    XCTAssertEqual(
      String(decoding: fingerprint.stdout, as: UTF8.self), "SHA256:O6McrCXosVFhbn6wlMyFwklDsdrflEpg4giK5URMrTg\n")
  }

  /// Parses and verifies a file made by sc-seal byte by byte from the specification.
  func testSealedFileFollowsTheSpecification() throws {
    let key = try makeKey()
    let plaintext = randomBytes(3 * 65536 + 5)
    let sealed = [UInt8](try seal(plaintext, key: key))
    XCTAssertEqual(sealed.count, Self.sealedSize(plaintextCount: plaintext.count))
    XCTAssertEqual(Array(sealed[0..<8]), Array("SCSEAL".utf8) + [1, 0])
    let salt = Array(sealed[8..<40])
    let secret = SecretBytes(copying: key.key)
    func derive(_ info: String) throws -> SecretBytes {
      try HKDFSHA256.derive(inputKeyMaterial: secret, salt: salt, info: Array(info.utf8), outputCount: 32)
    }
    let headerMAC = try HMACSHA256(key: try derive("SecureChat v1 file header"))
    XCTAssertEqual(headerMAC.authenticate(Array(sealed[0..<40])), Array(sealed[40..<72]), "header tag")
    let frameMAC = try HMACSHA256(key: try derive("SecureChat v1 file authentication"))
    let cipher = try AES256CBC(key: try derive("SecureChat v1 file encryption"), direction: .decrypt)

    let frames = frameRanges(Data(sealed))
    XCTAssertEqual(frames.count, 4)
    XCTAssertEqual(frames.last?.upperBound, sealed.count)
    var opened: [UInt8] = []
    var ivs = Set<[UInt8]>()
    for (index, range) in frames.enumerated() {
      let frame = Array(sealed[range])
      let length = frame.count - Self.frameOverhead
      let isLast = index == frames.count - 1
      XCTAssertEqual(frame[0], 1, "frame \(index) version")
      XCTAssertEqual(frame[1], 1, "frame \(index) type")
      XCTAssertEqual(frame[2], isLast ? 1 : 0, "frame \(index) flags")
      XCTAssertEqual(frame[3], 0, "frame \(index) reserved")
      XCTAssertEqual(frame[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, UInt64(index), "frame \(index) sequence")
      XCTAssertEqual(length, isLast ? 16 : 65552, "frame \(index) L")
      XCTAssertEqual(
        frameMAC.authenticate(Array(frame[0..<32 + length])), Array(frame[32 + length..<64 + length]),
        "frame \(index) tag")
      let crc = frame[(64 + length)...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      XCTAssertEqual(crc, Self.crc32(Array(frame[0..<64 + length])), "frame \(index) CRC")
      let iv = Array(frame[16..<32])
      ivs.insert(iv)
      guard let chunk = cipher.decrypt(iv: iv, ciphertext: Array(frame[32..<32 + length])) else {
        return XCTFail("frame \(index) does not decrypt")
      }
      opened += chunk
    }
    XCTAssertEqual(ivs.count, frames.count, "a fresh IV per frame")
    XCTAssertTrue(Data(opened) == plaintext, "decrypting the frames by the spec gives the plaintext")

    // A fresh salt per file: the same plaintext sealed twice shares no salt.
    let again = [UInt8](try seal(plaintext, key: key))
    XCTAssertNotEqual(Array(again[8..<40]), salt)
  }

  // MARK: - Tampering

  /// A 4-frame file (3 full chunks and 5 bytes) with its plaintext.
  private func multiChunkFile(_ key: KeyFixture) throws -> (plaintext: Data, sealed: Data, frames: [Range<Int>]) {
    let plaintext = randomBytes(3 * 65536 + 5)
    let sealed = try seal(plaintext, key: key)
    let frames = frameRanges(sealed)
    XCTAssertEqual(frames.count, 4)
    XCTAssertEqual(frames.map(\.count), [65620, 65620, 65620, 84])
    return (plaintext, sealed, frames)
  }

  func testSingleByteFlips() throws {
    let key = try makeKey()
    let (plaintext, sealed, frames) = try multiChunkFile(key)
    // The file header: salt, tag, and the reserved byte (covered by the tag).
    for position in [7, 8, 23, 39, 40, 55, 71] {
      var damaged = sealed
      damaged[position] ^= 0xFF
      try assertOpenFails(
        damaged, key: key, status: 1, mentions: ["authentication failed"], "header byte \(position) flipped")
    }
    // First, a middle and the last frame: header fields, IV, ciphertext, tag, CRC.
    for frameIndex in [0, 1, 3] {
      let start = frames[frameIndex].lowerBound
      let length = frames[frameIndex].count - Self.frameOverhead
      var offsets: [(Int, String)] = [
        (0, "version"), (1, "type"), (2, "flags"), (3, "reserved"), (4, "sequence high"), (11, "sequence low"),
        (16, "first IV byte"), (31, "last IV byte"), (32, "first ciphertext byte"),
        (32 + length / 2, "middle ciphertext byte"), (31 + length, "last ciphertext byte"),
        (32 + length, "first tag byte"),
        (63 + length, "last tag byte"), (64 + length, "first CRC byte"), (67 + length, "last CRC byte"),
      ]
      offsets += (12...15).map { ($0, "length byte \($0 - 12)") }
      for (offset, field) in offsets {
        let masks: [UInt8] = (12...15).contains(offset) ? [0x01, 0x10, 0x80, 0xFF] : [0xFF]
        for mask in masks {
          var damaged = sealed
          damaged[start + offset] ^= mask
          let isLength = (12...15).contains(offset)
          try assertOpenFails(
            damaged, key: key, status: 1,
            mentionsAny: isLength ? ["out of range", "truncated", "corrupted in transit"] : ["corrupted in transit"],
            releasedLimit: frameIndex * 65536, plaintext: plaintext,
            "frame \(frameIndex) \(field) ^ 0x\(String(mask, radix: 16))")
        }
      }
    }
  }

  /// The CRC is no protection: with the CRC repaired, a change fails the tag instead.
  func testChangesWithRepairedCRCFailAuthentication() throws {
    let key = try makeKey()
    let (plaintext, sealed, frames) = try multiChunkFile(key)
    for frameIndex in [0, 2, 3] {
      let range = frames[frameIndex]
      for (offset, field) in [
        (2, "flags"), (11, "sequence"), (20, "IV"), (40, "ciphertext"), (range.count - 10, "tag"),
      ] {
        var damaged = sealed
        damaged[range.lowerBound + offset] ^= 0x01
        repairCRC(&damaged, frame: range)
        try assertOpenFails(
          damaged, key: key, status: 1, mentions: ["authentication failed"], releasedLimit: frameIndex * 65536,
          plaintext: plaintext, "frame \(frameIndex) \(field) changed, CRC repaired")
      }
    }
  }

  /// sc-open checks the tags of a batch of frames on the reading thread or on the worker,
  /// whichever is free (FileOpening): in an 80-frame file the first batches go to the worker and
  /// the reader takes some once the worker has a backlog. A change anywhere, CRC repaired, fails
  /// the tag and releases only plaintext of frames before it; with a later frame dropped as well
  /// (the reader's out-of-order), the earlier bad tag is still the error reported.
  func testTamperingAnywhereInAFileThatFillsTheTwoCorePipeline() throws {
    let key = try makeKey()
    let plaintext = randomBytes(79 * 65536 + 7)
    let sealed = try seal(plaintext, key: key)
    let frames = frameRanges(sealed)
    XCTAssertEqual(frames.count, 80)
    for frameIndex in [0, 9, 26, 41, 58, 79] {
      var damaged = sealed
      damaged[frames[frameIndex].lowerBound + 40] ^= 0x01
      repairCRC(&damaged, frame: frames[frameIndex])
      try assertOpenFails(
        damaged, key: key, status: 1, mentions: ["authentication failed"], releasedLimit: frameIndex * 65536,
        plaintext: plaintext, "frame \(frameIndex) of 80 changed, CRC repaired")
      guard frameIndex + 5 < 79 else { continue }
      damaged.removeSubrange(frames[frameIndex + 5])
      try assertOpenFails(
        damaged, key: key, status: 1, mentions: ["authentication failed"], releasedLimit: frameIndex * 65536,
        plaintext: plaintext, "frame \(frameIndex) of 80 changed and frame \(frameIndex + 5) dropped")
    }
  }

  func testMagicAndVersionFlips() throws {
    let key = try makeKey()
    let (_, sealed, _) = try multiChunkFile(key)
    for position in 0..<6 {
      var damaged = sealed
      damaged[position] ^= 0x20
      try assertOpenFails(
        damaged, key: key, status: 2, mentions: ["not a sealed file"], "magic byte \(position) flipped")
    }
    var version = sealed
    version[6] = 3
    try assertOpenFails(version, key: key, status: 2, mentions: ["unsupported"], "format version 3")
    // Version 2 is a file sealed to recipients (FORMATS.md §12.2), which -k does not open.
    version[6] = 2
    try assertOpenFails(version, key: key, status: 2, mentions: ["wrong key type", "-i IDENTITY"], "format version 2")
  }

  /// SPEC: "version != 1 -> exit 2" is checked before "fewer than 72 bytes -> exit 1";
  /// FORMATS §3.1 step 2 says so explicitly ("if the input has at least 7 bytes").
  func testShortInputWithUnknownVersionIsUnsupported() throws {
    let key = try makeKey()
    try assertOpenFails(
      Data("SCSEAL".utf8) + [3, 0] + Data(count: 20), key: key, status: 2, mentions: ["unsupported"],
      "28 bytes with format version 3")
  }

  func testTruncation() throws {
    let key = try makeKey()
    let (plaintext, sealed, frames) = try multiChunkFile(key)
    let cuts: [(Int, String)] = [
      (6, "after the magic"), (7, "after the version"), (40, "after the salt"), (71, "1 byte short of the header"),
      (72, "at the end of the header"), (72 + 10, "inside the first frame header"),
      (72 + 32, "after the first frame header"), (frames[0].upperBound - 1, "1 byte short of frame 0"),
      (frames[0].upperBound, "at the end of frame 0"), (frames[1].upperBound, "at the end of frame 1"),
      (frames[2].lowerBound + 30_000, "in the middle of frame 2"), (frames[2].upperBound, "at the end of frame 2"),
      (sealed.count - 4, "without the last CRC"), (sealed.count - 1, "1 byte short of the end"),
    ]
    for (cut, what) in cuts {
      let released = frames.firstIndex(where: { $0.upperBound > cut }).map { $0 * 65536 } ?? 0
      try assertOpenFails(
        sealed.prefix(cut), key: key, status: 1, mentions: ["truncated"], releasedLimit: released,
        plaintext: plaintext, "cut at \(cut) (\(what))")
    }
  }

  func testAppendedData() throws {
    let key = try makeKey()
    let (plaintext, sealed, frames) = try multiChunkFile(key)
    let lastFrame = sealed[frames[3]]
    let other = try seal(Data("x".utf8), key: key)
    let cases: [(Data, String)] = [
      (sealed + [0], "one zero byte"), (sealed + [0x0A], "a newline"),
      (sealed + lastFrame, "a copy of the last frame"), (sealed + sealed, "the whole file again"),
      (sealed + other, "another sealed file"),
    ]
    for (damaged, what) in cases {
      try assertOpenFails(
        damaged, key: key, status: 1, mentions: ["data after the final frame"], releasedLimit: plaintext.count,
        plaintext: plaintext, "appended \(what)")
    }
  }

  func testReorderedDroppedAndReplayedFrames() throws {
    let key = try makeKey()
    let (plaintext, sealed, f) = try multiChunkFile(key)
    let header = sealed.prefix(72)
    func join(_ indices: [Int]) -> Data { indices.reduce(header) { $0 + sealed[f[$1]] } }
    let cases: [([Int], Int, String)] = [
      ([1, 0, 2, 3], 0, "frames 0 and 1 swapped"), ([0, 2, 1, 3], 1, "frames 1 and 2 swapped"),
      ([0, 1, 3, 2], 2, "last two frames swapped"), ([0, 2, 3], 1, "frame 1 dropped"),
      ([0, 0, 1, 2, 3], 1, "frame 0 replayed"), ([0, 1, 2, 2, 3], 3, "frame 2 replayed"),
      ([1, 2, 3], 0, "frame 0 dropped"),
    ]
    for (order, goodFrames, what) in cases {
      try assertOpenFails(
        join(order), key: key, status: 1, mentions: ["out of order"], releasedLimit: goodFrames * 65536,
        plaintext: plaintext, what)
    }
    // Dropping only the final frame leaves full frames and no final flag: truncated.
    try assertOpenFails(
      join([0, 1, 2]), key: key, status: 1, mentions: ["truncated"], releasedLimit: 3 * 65536, plaintext: plaintext,
      "final frame dropped")
  }

  func testFramesSplicedFromAnotherFileWithTheSameKey() throws {
    let key = try makeKey()
    let (plaintext, sealed, frames) = try multiChunkFile(key)
    let (_, otherSealed, otherFrames) = try multiChunkFile(key)
    for index in [0, 1, 3] {
      var spliced = sealed
      spliced.replaceSubrange(frames[index], with: otherSealed[otherFrames[index]])
      try assertOpenFails(
        spliced, key: key, status: 1, mentions: ["authentication failed"], releasedLimit: index * 65536,
        plaintext: plaintext, "frame \(index) from another file")
    }
    // The other file's header in front of this file's frames.
    var header = sealed
    header.replaceSubrange(0..<72, with: otherSealed.prefix(72))
    try assertOpenFails(header, key: key, status: 1, mentions: ["authentication failed"], "header from another file")
  }

  func testWrongKey() throws {
    let key = try makeKey()
    let (_, sealed, _) = try multiChunkFile(key)
    let other = try makeKey("other.key")
    try assertOpenFails(sealed, key: other, status: 1, mentions: ["wrong key"], "wrong key")
    let armored = try seal(Data("secret\n".utf8), key: key, armored: true)
    try assertOpenFails(armored, key: other, status: 1, mentions: ["wrong key"], "wrong key, armored")
  }

  // MARK: - Files made with the key, breaking rules only a key holder can break

  /// Seals by the specification with the library's primitives (HKDF, HMAC, AES), so that
  /// authentic files can break the container rules.
  private func forge(
    key: KeyFixture, frames: [(plaintext: [UInt8], flags: UInt8, sequence: UInt64)], headerReserved: UInt8 = 0,
    type: UInt8 = 1, transform: ((inout [UInt8]) -> Void)? = nil
  ) throws -> Data {
    let salt = [UInt8](randomBytes(32))
    let secret = SecretBytes(copying: key.key)
    func derive(_ info: String) throws -> SecretBytes {
      try HKDFSHA256.derive(inputKeyMaterial: secret, salt: salt, info: Array(info.utf8), outputCount: 32)
    }
    var out = Array("SCSEAL".utf8) + [1, headerReserved] + salt
    out += try HMACSHA256(key: try derive("SecureChat v1 file header")).authenticate(out)
    let mac = try HMACSHA256(key: try derive("SecureChat v1 file authentication"))
    let cipher = try AES256CBC(key: try derive("SecureChat v1 file encryption"), direction: .encrypt)
    for frame in frames {
      let iv = [UInt8](randomBytes(16))
      var ciphertext = cipher.encrypt(iv: iv, plaintext: frame.plaintext)
      transform?(&ciphertext)
      var bytes: [UInt8] = [1, type, frame.flags, 0]
      bytes += (0..<8).map { UInt8(truncatingIfNeeded: frame.sequence >> (56 - 8 * $0)) }
      bytes += (0..<4).map { UInt8(truncatingIfNeeded: UInt32(ciphertext.count) >> (24 - 8 * $0)) }
      bytes += iv + ciphertext
      bytes += mac.authenticate(bytes)
      let crc = Self.crc32(bytes)
      bytes += (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * $0)) }
      out += bytes
    }
    return Data(out)
  }

  func testAuthenticFilesBreakingContainerRules() throws {
    let key = try makeKey()
    let full = [UInt8](randomBytes(65536))
    let tail = Array("tail\n".utf8)
    // Control: the forger makes files that open, so the failures below are the rules' doing.
    let good = try forge(key: key, frames: [(full, 0, 0), (tail, 1, 1)])
    let control = try run("sc-open", ["-k", key.path], stdin: .bytes(good))
    assertSuccess(control, "forged well-formed file")
    XCTAssertTrue(control.stdout == Data(full + tail))

    try assertOpenFails(
      try forge(key: key, frames: [(Array(full[0..<1000]), 0, 0), (tail, 1, 1)]), key: key, status: 1,
      "short chunk before the final one")
    try assertOpenFails(
      try forge(key: key, frames: [(full, 0, 0), ([], 1, 1)]), key: key, status: 1, releasedLimit: 65536,
      plaintext: Data(full), "empty final frame after data")
    try assertOpenFails(
      try forge(key: key, frames: [(full, 0, 0), (full, 0, 1)]), key: key, status: 1, mentions: ["truncated"],
      releasedLimit: 2 * 65536, "no final frame")
    try assertOpenFails(
      try forge(key: key, frames: [(tail, 1, 1)]), key: key, status: 1, mentions: ["out of order"],
      "first sequence number 1")
    try assertOpenFails(
      try forge(key: key, frames: [(tail, 1, 0), (tail, 1, 1)]), key: key, status: 1,
      mentions: ["data after the final frame"], releasedLimit: tail.count, plaintext: Data(tail), "two final frames")
    // Bad padding under a valid tag: keep only the first block of a two-block ciphertext.
    try assertOpenFails(
      try forge(key: key, frames: [([UInt8](repeating: 0, count: 16), 1, 0)], transform: { $0.removeLast(16) }),
      key: key, status: 1, "bad padding under a valid tag")
    // Authentic but unsupported: exit 2 (SPEC header checks; FORMATS §2.4 step 6).
    try assertOpenFails(
      try forge(key: key, frames: [(tail, 1, 0)], headerReserved: 1), key: key, status: 2, mentions: ["unsupported"],
      "header reserved byte 1 under a valid tag")
    try assertOpenFails(
      try forge(key: key, frames: [(tail, 3, 0)]), key: key, status: 2, mentions: ["unsupported"], "unknown flag bit")
    try assertOpenFails(
      try forge(key: key, frames: [(tail, 1, 0)], type: 0x7f), key: key, status: 2, mentions: ["unsupported"],
      "unknown frame type")
    // A receipt frame (PROTOCOL.md §6.5) is a known type, but not one a file may hold.
    try assertOpenFails(
      try forge(key: key, frames: [(tail, 1, 0)], type: 2), key: key, status: 1,
      mentions: ["malformed", "receipt frame in a sealed file"], "receipt frame type")
  }

  // MARK: - Inputs that are not ours

  func testInputThatIsNotASealedFile() throws {
    let key = try makeKey()
    var random = randomBytes(5000)
    random[0] = 0
    let armoredEmpty = Data("\(Self.beginLine)\n\(Self.endLine)\n".utf8)
    let cases: [(Data, String)] = [
      (random, "random bytes"), (Data(), "empty input"), (Data("hello, world\n".utf8), "text"),
      (Data("SCS".utf8), "a prefix of the magic"), (Data(" \(Self.beginLine)\n".utf8), "armor after a space"),
      (armoredEmpty, "armor with no body"),
    ]
    for (input, what) in cases {
      try assertOpenFails(input, key: key, status: 2, mentions: ["not a sealed file"], what)
    }
  }

  // MARK: - Key files

  func testKeyFilePermissions() throws {
    let key = try makeKey()
    let sealed = try write("in.sc", try seal(Data("x".utf8), key: key))
    for mode: mode_t in [0o644, 0o640, 0o604, 0o660, 0o601] {
      chmod(key.path, mode)
      for (tool, arguments) in [("sc-open", [sealed]), ("sc-seal", ["-o", path("out.sc"), sealed])] {
        let what = "\(tool) with a key file of mode \(String(mode, radix: 8))"
        let result = try run(tool, ["-k", key.path] + arguments)
        assertFailure(result, tool: tool, status: 2, what)
        XCTAssertTrue(
          result.stderr.split(separator: "\n").contains { $0.hasPrefix("\(tool): hint: ") && $0.contains("chmod 600") },
          "\(what): a hint with chmod 600: \(result.stderr)")
        XCTAssertEqual(result.stdout.count, 0)
        XCTAssertFalse(exists(path("out.sc")), what)
      }
      let fingerprint = try run("sc-keygen", ["-y", key.path])
      assertFailure(
        fingerprint, tool: "sc-keygen", status: 2, "sc-keygen -y of a key of mode \(String(mode, radix: 8))")
    }
    for mode: mode_t in [0o400, 0o600, 0o700] {
      chmod(key.path, mode)
      assertSuccess(try run("sc-open", ["-k", key.path, sealed]), "key file mode \(String(mode, radix: 8))")
    }
  }

  func testMissingAndUnreadableKeyFiles() throws {
    let key = try makeKey()
    let sealed = try write("in.sc", try seal(Data("x".utf8), key: key))
    let missing = try run("sc-open", ["-k", path("missing.key"), sealed])
    assertFailure(missing, tool: "sc-open", status: 2, mentions: ["missing.key"], "missing key file")
    let sealMissing = try run("sc-seal", ["-k", path("missing.key"), sealed])
    assertFailure(sealMissing, tool: "sc-seal", status: 2, "sc-seal with a missing key file")
    let isDirectory = try run("sc-open", ["-k", directory, sealed])
    assertFailure(isDirectory, tool: "sc-open", status: 2, "a directory as key file")
  }

  func testMalformedKeyFiles() throws {
    let key = try makeKey()
    let sealedBytes = try seal(Data("x".utf8), key: key)
    let sealed = try write("in.sc", sealedBytes)
    let h = key.hexKey
    let cases: [(String, String)] = [
      ("", "an empty file"), ("# only a comment\n\n", "only comments"),
      ("securechat-key-v1 psk \(h.dropLast())g\n", "a bad hex digit"),
      ("securechat-key-v1 psk \(h.dropLast())\n", "63 hex digits"), ("securechat-key-v1 psk \(h)0\n", "65 hex digits"),
      ("securechat-key-v2 psk \(h)\n", "a wrong version tag"), ("ssh-ed25519 psk \(h)\n", "a wrong tag"),
      ("securechat-key-v1 log \(h)\n", "an unknown type"),
      ("securechat-key-v1 psk \(h)\nsecurechat-key-v1 psk \(h)\n", "two key lines"),
      ("securechat-key-v1  psk \(h)\n", "two spaces"), (" securechat-key-v1 psk \(h)\n", "a leading space"),
      ("securechat-key-v1 psk \(h) \n", "a trailing space"), ("securechat-key-v1\tpsk \(h)\n", "a tab"),
      ("securechat-key-v1 psk \(h)\n \n", "a line of spaces"),
      (String(repeating: "#\n", count: 2100) + "securechat-key-v1 psk \(h)\n", "more than 4096 bytes"),
    ]
    for (contents, what) in cases {
      let keyFile = try write("bad.key", contents)
      for (tool, arguments) in [("sc-open", [sealed]), ("sc-seal", [sealed]), ("sc-keygen", [])] {
        let result = try run(
          tool, tool == "sc-keygen" ? ["-y", keyFile] : ["-k", keyFile, "-o", path("out")] + arguments)
        assertFailure(result, tool: tool, status: 2, "\(tool): key file with \(what)")
        XCTAssertEqual(result.stdout.count, 0, "\(tool): key file with \(what)")
        XCTAssertFalse(result.stderr.contains(h.prefix(16)), "\(tool): no key material in diagnostics")
        XCTAssertFalse(exists(path("out")))
      }
    }
    // What the format allows: upper-case hex, CRLF, no final LF, comments and blank lines.
    let accepted: [(String, String)] = [
      ("securechat-key-v1 psk \(h.uppercased())\n", "upper-case hex"),
      ("# c\r\n\r\nsecurechat-key-v1 psk \(h)\r\n", "CRLF line ends"), ("securechat-key-v1 psk \(h)", "no final LF"),
      ("\n# one\n#two\n\nsecurechat-key-v1 psk \(h)\n\n# after\n", "comments and blank lines"),
    ]
    for (contents, what) in accepted {
      let keyFile = try write("good.key", contents)
      let result = try run("sc-open", ["-k", keyFile, sealed])
      assertSuccess(result, "key file with \(what)")
      XCTAssertEqual(result.stdout, Data("x".utf8), what)
    }
  }

  // MARK: - Armor

  private func armorLines(_ armored: Data) -> [String] {
    var lines = String(decoding: armored, as: UTF8.self).components(separatedBy: "\n")
    XCTAssertEqual(lines.removeLast(), "")
    return lines
  }

  private func armorText(_ lines: [String]) -> Data { Data((lines.joined(separator: "\n") + "\n").utf8) }

  func testArmorDamage() throws {
    let key = try makeKey()
    let plaintext = randomBytes(3 * 65536 + 5)
    let armored = try seal(plaintext, key: key, armored: true)
    let lines = armorLines(armored)
    XCTAssertGreaterThan(lines.count, 100)
    let body = Array(lines.dropFirst().dropLast())
    let limit = plaintext.count

    func damaged(line: Int, at column: Int, to character: Character) -> Data {
      var copy = lines
      var characters = Array(copy[line])
      characters[column] = characters[column] == character ? (character == "A" ? "B" : "A") : character
      copy[line] = String(characters)
      return armorText(copy)
    }
    // Another base64 character: the decoded bytes change (CRC or tag fails). A character
    // outside the alphabet, or misplaced padding: the armor itself is damaged.
    // (Line 1 column 20 is in the salt: the header tag fails. Columns 0..7 of line 1 hold the
    // magic, whose damage makes the input "not a sealed file", exit 2, as it should.)
    for (line, column) in [(1, 20), (2, 10), (lines.count / 2, 33), (lines.count - 3, 63)] {
      for replacement: Character in ["Q", "*", "=", " ", "-"] {
        try assertOpenFails(
          damaged(line: line, at: column, to: replacement), key: key, status: 1, releasedLimit: limit,
          plaintext: plaintext, "armor line \(line) column \(column) replaced by '\(replacement)'")
      }
    }
    // Rewrapped at other widths.
    let joined = Array(body.joined().utf8)
    for width in [76, 60, 48] {
      let rewrapped = stride(from: 0, to: joined.count, by: width).map {
        String(decoding: joined[$0..<min($0 + width, joined.count)], as: UTF8.self)
      }
      try assertOpenFails(
        armorText([lines[0]] + rewrapped + [lines.last!]), key: key, status: 1, releasedLimit: limit,
        plaintext: plaintext, "armor rewrapped at \(width) columns")
    }
    // Structure.
    var withEmptyLine = lines
    withEmptyLine.insert("", at: 5)
    try assertOpenFails(
      armorText(withEmptyLine), key: key, status: 1, releasedLimit: limit, plaintext: plaintext,
      "an empty line in the body")
    var withoutLine = lines
    withoutLine.remove(at: 5)
    try assertOpenFails(
      armorText(withoutLine), key: key, status: 1, releasedLimit: limit, plaintext: plaintext, "a body line removed")
    try assertOpenFails(
      armorText(Array(lines.dropLast())), key: key, status: 1, mentions: ["truncated"], releasedLimit: limit,
      plaintext: plaintext, "no END line")
    for cut in [armored.count / 2, armored.count / 2 + 1, armored.count - 2] {
      try assertOpenFails(
        armored.prefix(cut), key: key, status: 1, releasedLimit: limit, plaintext: plaintext, "armor cut at \(cut)")
    }
    try assertOpenFails(
      armored + Data("garbage\n".utf8), key: key, status: 1, mentions: ["data after the final frame"],
      releasedLimit: limit, plaintext: plaintext, "text after the END line")
    var trailingSpace = lines
    trailingSpace[3] += " "
    try assertOpenFails(
      armorText(trailingSpace), key: key, status: 1, releasedLimit: limit, plaintext: plaintext,
      "a space at the end of a body line")
  }

  /// FORMATS §4.2 rule 6: an input that ends before the END line is `truncated`, unless its last,
  /// incomplete line already breaks rule 4 — cut inside a 4-character group, or inside the END
  /// line — which is `malformed` (issue 14, items 3 and 4).
  func testArmorCutAtAGroupBoundaryIsTruncatedAndInsideAGroupMalformed() throws {
    let key = try makeKey()
    let armored = try seal(randomBytes(10_000), key: key, armored: true)
    let lines = armorLines(armored)
    // Cuts after 10, 11 and 12 characters of the third body line, and inside the END line.
    let lineStart = lines[0...2].reduce(0) { $0 + $1.utf8.count + 1 }
    for cut in [lineStart + 10, lineStart + 11, armored.count - 5] {
      try assertOpenFails(armored.prefix(cut), key: key, status: 1, mentions: ["malformed"], "armor cut at \(cut)")
    }
    try assertOpenFails(armored.prefix(lineStart + 12), key: key, status: 1, mentions: ["truncated"], "at a group")
  }

  /// FORMATS §4.2 rule 3: a first line that is not exactly the BEGIN line is not our armor (2),
  /// even when it starts with it (issue 14, item 1).
  func testTextAfterTheBeginMarkerIsNotOurArmor() throws {
    let key = try makeKey()
    var lines = armorLines(try seal(Data("hello\n".utf8), key: key, armored: true))
    lines[0] += " x"
    try assertOpenFails(armorText(lines), key: key, status: 2, "text after the BEGIN marker")
  }

  func testNonCanonicalBase64() throws {
    let key = try makeKey()
    // 20 bytes of plaintext: 72 + 68 + 32 = 172 bytes = 57 * 3 + 1, so the armor ends in "X==",
    // and the character before "==" has four unused bits.
    let armored = try seal(Data("twenty bytes of text".utf8), key: key, armored: true)
    var lines = armorLines(armored)
    let last = lines.count - 2
    XCTAssertTrue(lines[last].hasSuffix("=="), lines[last])
    var characters = Array(lines[last])
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    let index = characters.count - 3
    let value = alphabet.firstIndex(of: characters[index])!
    characters[index] = alphabet[value ^ 0x01]
    lines[last] = String(characters)
    try assertOpenFails(armorText(lines), key: key, status: 1, "non-canonical base64 (unused bits set)")
  }

  func testArmorVariantsThatAreAccepted() throws {
    let key = try makeKey()
    let plaintext = randomBytes(100_000)
    let armored = try seal(plaintext, key: key, armored: true)
    let lines = armorLines(armored)
    let variants: [(Data, String)] = [
      (Data((lines.joined(separator: "\r\n") + "\r\n").utf8), "CRLF line ends"),
      (armored + Data("  \n\t\n\n".utf8), "whitespace after the END line"),
      (armored.dropLast(), "no LF after the END line"),
    ]
    for (input, what) in variants {
      let result = try run("sc-open", ["-k", key.path], stdin: .bytes(Data(input)))
      assertSuccess(result, what)
      XCTAssertTrue(result.stdout == plaintext, what)
    }
  }

  // MARK: - sc-keygen

  private static let fingerprintPattern = "SHA256:[A-Za-z0-9+/]{43}"

  private func matches(_ text: String, _ pattern: String) -> Bool {
    text.range(of: "^" + pattern + "$", options: .regularExpression) != nil
  }

  func testKeygenToFile() throws {
    let keyPath = path("new.key")
    // Through a shell with umask 0: the mode must be 0600 whatever the umask.
    let result = try ToolRunner.runExecutable(
      "/bin/sh", ["-c", "umask 0; exec \"$0\" -o \"$1\"", try ToolRunner.path(of: "sc-keygen"), keyPath], stdin: .none)
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout.count, 0, "the key goes to the file only")
    XCTAssertTrue(result.stderr.hasPrefix("sc-keygen: fingerprint SHA256:"), result.stderr)
    XCTAssertTrue(matches(result.stderr, "sc-keygen: fingerprint \(Self.fingerprintPattern)\n"), result.stderr)
    var info = stat()
    XCTAssertEqual(stat(keyPath, &info), 0)
    XCTAssertEqual(info.st_mode & 0o7777, 0o600, "key file mode")
    let contents = String(decoding: read(keyPath) ?? Data(), as: UTF8.self)
    XCTAssertTrue(
      matches(
        contents,
        "# SecureChat pre-shared key\\. Keep it secret: anyone who holds it can read and forge messages\\.\n"
          + "securechat-key-v1 psk [0-9a-f]{64}\n"), contents)

    // -y prints the same fingerprint on stdout, and it is the one of FORMATS §1.4.
    let fingerprint = try run("sc-keygen", ["-y", keyPath])
    assertSuccess(fingerprint, "sc-keygen -y")
    let printed = String(decoding: fingerprint.stdout, as: UTF8.self)
    XCTAssertEqual("sc-keygen: fingerprint " + printed, result.stderr)
    let hexKey = String(contents.split(separator: "\n").last!.split(separator: " ").last!)
    let digest = SHA256.hash(
      Array("SecureChat v1 key fingerprint".utf8) + [0] + Array("psk".utf8) + [0] + bytes(fromHex: hexKey))
    let expected = "SHA256:" + Data(digest).base64EncodedString().replacingOccurrences(of: "=", with: "")
    XCTAssertEqual(printed, expected + "\n")
    XCTAssertEqual(try run("sc-keygen", ["--fingerprint", keyPath]).stdout, fingerprint.stdout)

    // The new key works.
    let key = KeyFixture(path: keyPath, key: bytes(fromHex: hexKey))
    let opened = try run("sc-open", ["-k", keyPath], stdin: .bytes(try seal(Data("hi\n".utf8), key: key)))
    assertSuccess(opened, "a key from sc-keygen")
    XCTAssertEqual(opened.stdout, Data("hi\n".utf8))

    // Never overwritten.
    let precious = try write("precious.key", "do not touch\n", mode: 0o600)
    let refused = try run("sc-keygen", ["-o", precious])
    assertFailure(refused, tool: "sc-keygen", status: 2, mentions: ["exists"], "sc-keygen -o over an existing file")
    XCTAssertEqual(read(precious), Data("do not touch\n".utf8), "an existing file is left as it was")
    let refusedKey = try run("sc-keygen", ["-o", keyPath])
    XCTAssertEqual(refusedKey.status, 2)
    XCTAssertEqual(read(keyPath), Data(contents.utf8))
    // Not through a symbolic link either.
    XCTAssertEqual(symlink(path("target.key"), path("link.key")), 0)
    let throughLink = try run("sc-keygen", ["-o", path("link.key")])
    assertFailure(throughLink, tool: "sc-keygen", status: 2, "sc-keygen -o onto a dangling symbolic link")
    XCTAssertFalse(exists(path("target.key")), "no file created through a symbolic link")
  }

  func testKeygenToStdoutAndComments() throws {
    let first = try run("sc-keygen", [])
    XCTAssertEqual(first.status, 0, first.stderr)
    let second = try run("sc-keygen", ["-o", "-"])
    XCTAssertEqual(second.status, 0, second.stderr)
    let keyLine = "securechat-key-v1 psk [0-9a-f]{64}"
    for result in [first, second] {
      let text = String(decoding: result.stdout, as: UTF8.self)
      XCTAssertTrue(text.hasPrefix("# SecureChat pre-shared key."), text)
      XCTAssertTrue(text.split(separator: "\n").contains { matches(String($0), keyLine) }, text)
      XCTAssertTrue(matches(result.stderr, "sc-keygen: fingerprint \(Self.fingerprintPattern)\n"), result.stderr)
    }
    XCTAssertNotEqual(first.stdout, second.stdout, "two keys differ")
    XCTAssertNotEqual(first.stderr, second.stderr, "two fingerprints differ")

    // The key on stdout is a usable key file, with the fingerprint given on stderr.
    let keyPath = try write("from-stdout.key", first.stdout)
    let fingerprint = try run("sc-keygen", ["-y", keyPath])
    XCTAssertEqual("sc-keygen: fingerprint " + String(decoding: fingerprint.stdout, as: UTF8.self), first.stderr)
    let plain = Data("via stdout\n".utf8)
    let sealed = try run("sc-seal", ["-k", keyPath], stdin: .bytes(plain))
    assertSuccess(sealed, "seal with a key from stdout")
    XCTAssertEqual(try run("sc-open", ["-k", keyPath], stdin: .bytes(sealed.stdout)).stdout, plain)

    let commented = try run("sc-keygen", ["-C", "alice & bob, 2026", "-o", path("c.key")])
    XCTAssertEqual(commented.status, 0, commented.stderr)
    let lines = String(decoding: read(path("c.key")) ?? Data(), as: UTF8.self).split(separator: "\n")
    XCTAssertEqual(lines.count, 3)
    XCTAssertEqual(lines.dropFirst().first, "# comment: alice & bob, 2026")

    let both = try run("sc-keygen", ["-y", keyPath, "-o", path("x.key")])
    assertFailure(both, tool: "sc-keygen", status: 2, "-y with -o")
    let newline = try run("sc-keygen", ["-C", "two\nlines", "-o", path("y.key")])
    assertFailure(newline, tool: "sc-keygen", status: 2, "a comment with a newline")
    XCTAssertFalse(exists(path("y.key")))
    let missing = try run("sc-keygen", ["-y", path("missing.key")])
    assertFailure(missing, tool: "sc-keygen", status: 2, "-y of a missing file")
  }

  // MARK: - Keys on standard input

  func testKeyOnStandardInput() throws {
    let key = try makeKey()
    let keyText = read(key.path)!
    let plaintext = randomBytes(200_000)
    let plainPath = try write("plain", plaintext)
    let sealing = try run("sc-seal", ["-k", "-", "-o", path("s.sc"), plainPath], stdin: .bytes(keyText))
    assertSuccess(sealing, "sc-seal -k - FILE")
    let opening = try run("sc-open", ["--key=-", path("s.sc")], stdin: .bytes(keyText))
    assertSuccess(opening, "sc-open --key=- FILE")
    XCTAssertTrue(opening.stdout == plaintext)
    // A key file on stdin that is a regular file is still checked for its mode.
    chmod(key.path, 0o644)
    let permissive = try run("sc-open", ["-k", "-", path("s.sc")], stdin: .file(key.path))
    assertFailure(permissive, tool: "sc-open", status: 2, "-k - from a mode 0644 file")

    for tool in ["sc-seal", "sc-open"] {
      for arguments in [["-k", "-"], ["-k", "-", "-"], ["-k-", "-o", path("never")]] {
        let result = try run(tool, arguments, stdin: .bytes(keyText + plaintext))
        assertFailure(result, tool: tool, status: 2, "\(tool) \(arguments.joined(separator: " "))")
        XCTAssertEqual(result.stdout.count, 0)
      }
    }
    XCTAssertFalse(exists(path("never")))
  }

  // MARK: - Terminals

  func testBinaryOutputToATerminal() throws {
    let key = try makeKey()
    let binary = randomBytes(1000) + [0, 1, 2, 0x1B]
    let binaryPath = try write("binary", binary)
    let err = path("stderr.txt")
    guard let refused = try ToolRunner.runOnTerminal("sc-seal", ["-k", key.path, binaryPath], stderrPath: err) else {
      throw XCTSkip("util-linux script is not installed")
    }
    assertFailure(refused, tool: "sc-seal", status: 2, mentions: ["terminal"], "sc-seal to a terminal")
    XCTAssertEqual(refused.stdout.count, 0, "nothing reached the terminal")

    let forced = try ToolRunner.runOnTerminal("sc-seal", ["-k", key.path, "-o", "-", binaryPath], stderrPath: err)!
    assertSuccess(forced, "sc-seal -o - to a terminal")
    XCTAssertEqual(
      forced.stdout.count, Self.sealedSize(plaintextCount: binary.count), "the sealed file reached the terminal")
    let reopened = try run("sc-open", ["-k", key.path], stdin: .bytes(forced.stdout))
    assertSuccess(reopened, "open what went to the terminal")
    XCTAssertEqual(reopened.stdout, binary)

    // sc-keygen without -o on a terminal writes the key but warns.
    let keygen = try ToolRunner.runOnTerminal("sc-keygen", [], stderrPath: err)!
    XCTAssertEqual(keygen.status, 0, keygen.stderr)
    XCTAssertTrue(String(decoding: keygen.stdout, as: UTF8.self).contains("securechat-key-v1 psk "))
    let keygenLines = keygen.stderr.split(separator: "\n")
    XCTAssertEqual(keygenLines.count, 2, keygen.stderr)
    XCTAssertTrue(keygenLines.first?.hasPrefix("sc-keygen: warning: ") ?? false, keygen.stderr)
    XCTAssertTrue(keygenLines.last?.hasPrefix("sc-keygen: fingerprint SHA256:") ?? false, keygen.stderr)

    let armored = try ToolRunner.runOnTerminal("sc-seal", ["-k", key.path, "-a", binaryPath], stderrPath: err)!
    assertSuccess(armored, "sc-seal -a to a terminal")
    XCTAssertTrue(String(decoding: armored.stdout, as: UTF8.self).hasPrefix(Self.beginLine + "\n"))

    // sc-open: binary plaintext is refused, text is written.
    let sealedBinary = try write("binary.sc", try seal(binary, key: key))
    let openRefused = try ToolRunner.runOnTerminal("sc-open", ["-k", key.path, sealedBinary], stderrPath: err)!
    assertFailure(openRefused, tool: "sc-open", status: 2, mentions: ["terminal"], "sc-open of binary to a terminal")
    XCTAssertEqual(openRefused.stdout.count, 0, "no binary plaintext reached the terminal")
    let openForced = try ToolRunner.runOnTerminal(
      "sc-open", ["-k", key.path, "-o", "-", sealedBinary], stderrPath: err)!
    assertSuccess(openForced, "sc-open -o - of binary to a terminal")
    XCTAssertEqual(openForced.stdout, binary)

    let text = Data("héllo, wörld\n\ttabs and\r\nCRLF\n".utf8)
    let sealedText = try write("text.sc", try seal(text, key: key))
    let openText = try ToolRunner.runOnTerminal("sc-open", ["-k", key.path, sealedText], stderrPath: err)!
    assertSuccess(openText, "sc-open of text to a terminal")
    XCTAssertEqual(openText.stdout, text)

    // Text followed (after several batches) by an escape character: the control byte must
    // never reach the terminal.
    let late = Data(repeating: UInt8(ascii: "a"), count: 1 << 20) + [0x1B] + Data("[2J".utf8)
    let sealedLate = try write("late.sc", try seal(late, key: key))
    let openLate = try ToolRunner.runOnTerminal("sc-open", ["-k", key.path, sealedLate], stderrPath: err)!
    assertFailure(openLate, tool: "sc-open", status: 2, mentions: ["terminal"], "escape after 1 MiB of text")
    XCTAssertFalse(openLate.stdout.contains(0x1B), "the escape byte must not reach the terminal")
  }

  // MARK: - I/O errors and signals

  /// A read error (here EISDIR: the input is a directory, which open(2) accepts) is an I/O
  /// error: exit 2 with one diagnostic, and no output file or temporary file left behind.
  func testReadErrors() throws {
    let key = try makeKey()
    let input = path("a-directory")
    try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: false)
    for tool in ["sc-seal", "sc-open"] {
      for armor in tool == "sc-seal" ? [[], ["-a"]] : [[]] {
        let what = "\(tool)\(armor.isEmpty ? "" : " -a") of a directory"
        let before = listing()
        let toFile = try run(tool, ["-k", key.path] + armor + ["-o", path("out"), input])
        assertFailure(toFile, tool: tool, status: 2, "\(what) with -o")
        XCTAssertFalse(exists(path("out")), what)
        XCTAssertEqual(listing(), before, "\(what): no temporary file left")
        let toStdout = try run(tool, ["-k", key.path] + armor + ["-o", "-", input])
        assertFailure(toStdout, tool: tool, status: 2, "\(what) to stdout")
        // Refused before anything is written, by a message that names it (issue 13, defect 6).
        XCTAssertEqual(toStdout.stdout.count, 0, "\(what): nothing written before the refusal")
        XCTAssertTrue(toStdout.stderr.contains("cannot read \(input): it is a directory"), toStdout.stderr)
      }
    }
  }

  func testWriteErrors() throws {
    guard exists("/dev/full") else { throw XCTSkip("no /dev/full") }
    let key = try makeKey()
    let plaintext = randomBytes(3 * 65536 + 5)
    let plainPath = try write("plain", plaintext)
    let sealedPath = try write("sealed", try seal(plaintext, key: key))
    let smallPath = try write("small.sc", try seal(Data("x".utf8), key: key))
    let cases: [(String, [String])] = [
      ("sc-seal", [plainPath]), ("sc-seal", ["-a", plainPath]), ("sc-open", [sealedPath]), ("sc-open", [smallPath]),
    ]
    for (tool, arguments) in cases {
      let result = try run(tool, ["-k", key.path, "-o", "/dev/full"] + arguments)
      assertFailure(
        result, tool: tool, status: 2, mentions: ["/dev/full"],
        "\(tool) \(arguments.joined(separator: " ")) to /dev/full")
    }
  }

  /// DESIGN.md: a failed open leaves no output file behind, also when it is interrupted.
  func testInterruptedOpenLeavesNoOutput() throws {
    let key = try makeKey()
    let sealed = try seal(randomBytes(3 << 20), key: key)
    let part = try write("part.sc", sealed.prefix(1 << 20))
    let script = """
      set -u
      mkfifo "$DIR/fifo"
      "$BIN" -k "$KEY" -o "$DIR/out" "$DIR/fifo" 2>"$DIR/err" &
      pid=$!
      exec 3>"$DIR/fifo"
      cat "$PART" >&3
      sleep 0.3
      ls -A "$DIR" > "$DIR/during"
      kill -"$SIGNAL" $pid
      wait $pid
      status=$?
      exec 3>&-
      rm "$DIR/fifo"
      echo $status
      """
    for (signal, number) in [("TERM", SIGTERM), ("INT", SIGINT), ("HUP", SIGHUP)] {
      let before = listing()
      let result = try ToolRunner.runExecutable(
        "/bin/sh", ["-c", script], stdin: .none,
        environment: [
          "DIR": directory, "BIN": try ToolRunner.path(of: "sc-open"), "KEY": key.path, "PART": part,
          "SIGNAL": signal,
        ])
      XCTAssertEqual(result.status, 0, result.stderr)
      XCTAssertEqual(
        String(decoding: result.stdout, as: UTF8.self), "\(128 + number)\n", "SIG\(signal) ends sc-open by the signal")
      let during = String(decoding: read(path("during")) ?? Data(), as: UTF8.self)
      XCTAssertTrue(during.contains(".out."), "SIG\(signal): the temporary output existed while opening: \(during)")
      XCTAssertFalse(exists(path("out")), "SIG\(signal): no output file")
      XCTAssertEqual(listing().subtracting(["err", "during"]), before, "SIG\(signal): no temporary file left")
      try? FileManager.default.removeItem(atPath: path("during"))
      try? FileManager.default.removeItem(atPath: path("err"))
    }
  }

  // MARK: - Command line

  func testCommandLineUsage() throws {
    let key = try makeKey()
    for tool in ToolRunner.toolNames {
      for option in ["--bogus", "-Z", "--key-file=x"] {
        let result = try run(tool, [option])
        assertFailure(result, tool: tool, status: 2, mentions: ["unknown option"], "\(tool) \(option)")
        XCTAssertEqual(result.stdout.count, 0)
      }
      for option in ["--help", "-h"] {
        let help = try run(tool, [option])
        assertSuccess(help, "\(tool) \(option)")
        let text = String(decoding: help.stdout, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("usage: \(tool) "), "\(tool) \(option): \(text)")
      }
      let version = try run(tool, ["--version"])
      assertSuccess(version, "\(tool) --version")
      XCTAssertTrue(String(decoding: version.stdout, as: UTF8.self).hasPrefix("\(tool) "))
    }
    let plain = try write("plain", "text\n")
    let cases: [(String, [String], String)] = [
      ("sc-seal", [plain], "no key"), ("sc-open", [plain], "no key"), ("sc-seal", ["-k"], "-k without a value"),
      ("sc-seal", ["-k", key.path, plain, plain], "two inputs"),
      ("sc-open", ["-k", key.path, plain, plain], "two inputs"),
      ("sc-seal", ["-k", key.path, "-k", key.path, plain], "-k twice"), ("sc-keygen", ["extra"], "an operand"),
      ("sc-seal", ["-k", key.path, path("missing")], "a missing input"),
      ("sc-open", ["-k", key.path, path("missing")], "a missing input"),
      ("sc-seal", ["-k", key.path, "-o", path("no/such/dir/out"), plain], "an output in a missing directory"),
      ("sc-seal", ["-k", key.path, "-o", directory, plain], "a directory as output"),
      ("sc-seal", ["--armor=yes", "-k", key.path, plain], "a value for a flag"),
    ]
    for (tool, arguments, what) in cases {
      let result = try run(tool, arguments)
      assertFailure(result, tool: tool, status: 2, "\(tool): \(what)")
      XCTAssertEqual(result.stdout.count, 0, "\(tool): \(what)")
    }
    // The documented option forms: clustered flags, attached values, long forms, `--`.
    let sealed = try run("sc-seal", ["-ak\(key.path)", "--output", path("x.asc"), "--", plain])
    assertSuccess(sealed, "clustered and long options")
    let opened = try run("sc-open", ["--key", key.path, "--output=\(path("x.out"))", path("x.asc")])
    assertSuccess(opened, "long options")
    XCTAssertEqual(read(path("x.out")), Data("text\n".utf8))
  }
}
