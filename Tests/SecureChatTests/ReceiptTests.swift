import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Delivery receipts in the library (docs/PROTOCOL.md §6.5): receipt frames interleaved with data
/// frames in one direction, numbered by message, in order; every way a receipt can be wrong, and
/// what a relay can do to one. The tools are tested in SessionProcessTests (receipts section).
final class ReceiptTests: XCTestCase {
  /// Two directions of one session: alice's send keys are bob's receive keys and back.
  private let aliceToBob = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
  private let bobToAlice = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))

  private func session(send: FrameKeys, receive: FrameKeys) -> SessionSecrets {
    SessionSecrets(
      role: .responder, sessionID: [UInt8](repeating: 1, count: 16), localName: Array("bob".utf8),
      peerName: Array("alice".utf8), transcriptHash: [UInt8](repeating: 2, count: 32), verificationCode: "",
      send: send, receive: receive)
  }

  /// Bob's side: he reads alice's direction.
  private var bob: SessionSecrets { session(send: bobToAlice, receive: aliceToBob) }

  /// A unit of a stream to seal: a message, a receipt for a number, or a raw receipt plaintext.
  private enum Unit {
    case message(String)
    case receipt(UInt64)
    case rawReceipt([UInt8], final: Bool)
  }

  /// The frames of `units`, each sealed with the next sequence number, then the final frame.
  private func frames(_ units: [Unit], keys: FrameKeys? = nil, final: Bool = true) throws -> [[UInt8]] {
    let sealer = try FrameSealer(keys: keys ?? aliceToBob)
    var out: [[UInt8]] = []
    for unit in units {
      switch unit {
      case .message(let text): out.append(sealer.seal(Array(text.utf8), isFinal: false))
      case .receipt(let number):
        out.append(sealer.seal(SessionReceipt.plaintext(acknowledging: number), type: .receipt, isFinal: false))
      case .rawReceipt(let bytes, let isFinal): out.append(sealer.seal(bytes, type: .receipt, isFinal: isFinal))
      }
    }
    if final && !sealer.isFinished { out.append(sealer.seal([], isFinal: true)) }
    return out
  }

  func testReceiptPlaintextIsTheBigEndianMessageNumber() {
    XCTAssertEqual(SessionReceipt.plaintext(acknowledging: 0), [0, 0, 0, 0, 0, 0, 0, 0])
    XCTAssertEqual(SessionReceipt.plaintext(acknowledging: 0x0102_0304_0506_0708), [1, 2, 3, 4, 5, 6, 7, 8])
    XCTAssertEqual(SessionReceipt.messageNumber([1, 2, 3, 4, 5, 6, 7, 8]), 0x0102_0304_0506_0708)
    XCTAssertEqual(SessionReceipt.messageNumber(SessionReceipt.plaintext(acknowledging: .max)), .max)
    XCTAssertNil(SessionReceipt.messageNumber([0, 0, 0, 0, 0, 0, 0]))
    XCTAssertNil(SessionReceipt.messageNumber([0, 0, 0, 0, 0, 0, 0, 0, 0]))
  }

  /// Receipts interleaved with messages: the reader yields each in order, with the message
  /// numbers counted among data frames only (receipts take sequence numbers too).
  func testRoundTripInterleaved() throws {
    let units: [Unit] = [
      .message("a\n"), .receipt(0), .receipt(1), .message("b\n"), .message("c\n"), .receipt(2), .message("d\n"),
      .receipt(3), .receipt(4),
    ]
    let stream = try frames(units).flatMap { $0 }
    let reader = try SessionStreamReader(session: bob)
    var offset = 0
    var steps: [String] = []
    loop: while true {
      let step = try stream.withUnsafeBytes {
        try reader.next(UnsafeRawBufferPointer(rebasing: $0[offset...]), atEnd: true)
      }
      switch step {
      case .needMoreInput: XCTFail("the whole stream was given")
      case .message(let consumed, let sequence, let plaintext):
        steps.append("m\(reader.messageCount - 1)@\(sequence):\(String(decoding: plaintext, as: UTF8.self))")
        offset += consumed
      case .receipt(let consumed, let sequence, let number):
        steps.append("r\(number)@\(sequence)")
        offset += consumed
      case .finished(let consumed, let sequence, let plaintext):
        XCTAssertEqual(plaintext, [])
        steps.append("end@\(sequence)")
        offset += consumed
        break loop
      }
    }
    XCTAssertEqual(
      steps, ["m0@0:a\n", "r0@1", "r1@2", "m1@3:b\n", "m2@4:c\n", "r2@5", "m3@6:d\n", "r3@7", "r4@8", "end@9"])
    XCTAssertEqual(offset, stream.count)
    XCTAssertEqual(reader.messageCount, 4, "the final frame is not a message")
    XCTAssertEqual(reader.receiptCount, 5)

    let opened = try SessionStreamReader.open(stream, session: bob)
    XCTAssertNil(opened.error)
    XCTAssertEqual(String(decoding: opened.plaintext, as: UTF8.self), "a\nb\nc\nd\n")
    XCTAssertEqual(opened.receipts, [0, 1, 2, 3, 4])
  }

  /// What a stream with a bad receipt releases: everything before it, nothing after it.
  private func assertFails(
    _ units: [Unit], _ errorClass: String, releasing text: String, receipts: [UInt64], saying words: String? = nil,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let opened = try SessionStreamReader.open(try frames(units).flatMap { $0 }, session: bob)
    XCTAssertEqual(opened.error?.vectorClass, errorClass, "\(String(describing: opened.error))", file: file, line: line)
    XCTAssertEqual(String(decoding: opened.plaintext, as: UTF8.self), text, file: file, line: line)
    XCTAssertEqual(opened.receipts, receipts, file: file, line: line)
    if let words, let error = opened.error {
      XCTAssertTrue(error.description.contains(words), error.description, file: file, line: line)
    }
  }

  func testReceiptsMustNameMessagesInOrderOnceEach() throws {
    let after: [Unit] = [.message("after\n"), .receipt(9)]
    // Skipping a number, going back, repeating one, starting above 0.
    try assertFails(
      [.message("a\n"), .receipt(0), .receipt(2)] + after, "malformed", releasing: "a\n", receipts: [0],
      saying: "receipt for message 2 where message 1 was next")
    try assertFails(
      [.receipt(0), .receipt(1), .receipt(0)] + after, "malformed", releasing: "", receipts: [0, 1])
    try assertFails([.receipt(0), .receipt(0)] + after, "malformed", releasing: "", receipts: [0])
    try assertFails([.message("a\n"), .receipt(1)] + after, "malformed", releasing: "a\n", receipts: [])
    try assertFails([.receipt(.max)] + after, "malformed", releasing: "", receipts: [])
  }

  func testReceiptPlaintextMustBeEightBytes() throws {
    for size in [0, 1, 7, 9, 16, 100] {
      try assertFails(
        [.message("a\n"), .rawReceipt([UInt8](repeating: 0, count: size), final: false), .message("b\n")],
        "malformed", releasing: "a\n", receipts: [], saying: "receipt frame of \(size) bytes")
    }
  }

  func testAReceiptIsNeverFinal() throws {
    let stream = try frames([.message("a\n"), .rawReceipt(SessionReceipt.plaintext(acknowledging: 0), final: true)])
    XCTAssertEqual(stream.count, 2, "the final receipt ends the sealer's stream")
    let opened = try SessionStreamReader.open(stream.flatMap { $0 }, session: bob)
    XCTAssertEqual(opened.error?.vectorClass, "malformed")
    XCTAssertEqual(opened.receipts, [])
    XCTAssertEqual(opened.plaintext, Array("a\n".utf8))
  }

  /// Bob's own receipt (sealed with his send keys, for alice) given back to him with the sequence
  /// number he expects: it fails the tag, so a relay cannot make him believe alice acknowledged.
  func testReflectedReceiptFailsAuthentication() throws {
    let own = try frames([.message("x\n"), .receipt(0)], keys: bobToAlice)
    let fromAlice = try frames([.message("a\n"), .message("b\n")], final: false)
    // Alice's frame 0, then bob's receipt at sequence 1.
    let opened = try SessionStreamReader.open(fromAlice[0] + own[1] + fromAlice[1], session: bob)
    XCTAssertEqual(opened.error?.vectorClass, "authentication")
    XCTAssertEqual(opened.receipts, [])
    XCTAssertEqual(opened.plaintext, Array("a\n".utf8))
    // The control: alice, reading bob's direction, accepts it.
    let control = try SessionStreamReader.open(
      own.flatMap { $0 }, session: session(send: aliceToBob, receive: bobToAlice))
    XCTAssertNil(control.error)
    XCTAssertEqual(control.receipts, [0])
  }

  /// What a relay without the keys can do to a receipt frame: each fails, and no receipt after
  /// the damage is released.
  func testRelayCannotDropDuplicateReorderOrAlterAReceipt() throws {
    let good = try frames([.message("a\n"), .receipt(0), .message("b\n"), .receipt(1), .receipt(2)])
    // Frames: 0 m0, 1 r0, 2 m1, 3 r1, 4 r2, 5 final.
    let control = try SessionStreamReader.open(good.flatMap { $0 }, session: bob)
    XCTAssertNil(control.error)
    XCTAssertEqual(control.receipts, [0, 1, 2])

    func check(_ name: String, _ stream: [[UInt8]], _ errorClass: String, receipts: [UInt64]) throws {
      let opened = try SessionStreamReader.open(stream.flatMap { $0 }, session: bob)
      XCTAssertEqual(opened.error?.vectorClass, errorClass, name)
      XCTAssertEqual(opened.receipts, receipts, name)
    }
    try check("dropped", [good[0], good[1], good[2], good[4], good[5]], "out-of-order", receipts: [0])
    try check("duplicated", [good[0], good[1], good[1], good[2]], "out-of-order", receipts: [0])
    try check("reordered", [good[0], good[1], good[2], good[4], good[3], good[5]], "out-of-order", receipts: [0])
    try check("moved before a message", [good[0], good[3], good[1]], "out-of-order", receipts: [])
    var flipped = good[3]
    flipped[40] ^= 0x01
    try check("bit flipped", [good[0], good[1], good[2], flipped, good[4]], "corrupted", receipts: [0])
    SessionUnits.fixCRC(&flipped)
    try check("bit flipped, crc fixed", [good[0], good[1], good[2], flipped], "authentication", receipts: [0])
    // The type byte is in the clear but under the tag: a data frame cannot be turned into a
    // receipt, nor a receipt into a data frame.
    for index in [2, 3] {
      var retyped = good[index]
      retyped[1] = index == 2 ? 0x02 : 0x01
      SessionUnits.fixCRC(&retyped)
      try check("retyped \(index)", [good[0], good[1], retyped], "authentication", receipts: [0])
    }
  }

  /// A receipt is for session streams: in a sealed file it is `malformed` (FORMATS.md §3.2).
  func testReceiptFrameInASealedFileIsMalformed() throws {
    let fileKey = SecretBytes.random(count: 32)
    let salt = [UInt8](repeating: 3, count: SealedFile.saltSize)
    let keys = try SealedFile.deriveKeys(fileKey: fileKey, salt: salt)
    let sealer = try FrameSealer(keys: keys.frames)
    let file =
      try SealedFile.header(salt: salt, keys: keys)
      + sealer.seal(SessionReceipt.plaintext(acknowledging: 0), type: .receipt, isFinal: true)
    XCTAssertThrowsError(try SealedFile.open(file, fileKey: fileKey)) {
      XCTAssertEqual(($0 as? ProtocolError)?.vectorClass, "malformed", "\($0)")
    }
    // The control: the same file with a data frame opens.
    let dataSealer = try FrameSealer(keys: keys.frames)
    let dataFile =
      try SealedFile.header(salt: salt, keys: keys)
      + dataSealer.seal(SessionReceipt.plaintext(acknowledging: 0), isFinal: true)
    XCTAssertEqual(try SealedFile.open(dataFile, fileKey: fileKey), [0, 0, 0, 0, 0, 0, 0, 0])
  }
}

/// The receipt options of the tools on their own (the live pipeline of two peers is in
/// SessionProcessTests): what sc-seal -s --receipts-from sends, what sc-open -s --receipts-to and
/// --delivered write, and the local faults that are status 2.
final class ReceiptToolTests: XCTestCase {
  private var directory = ""
  private let aliceToBob = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
  private let bobToAlice = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-receipts-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try ToolRunner.writeSessionPair(in: directory, aliceToBob: aliceToBob, bobToAlice: bobToAlice)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  private func write(_ name: String, _ text: String) -> String {
    XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data(text.utf8)), name)
    return path(name)
  }

  private func contents(_ name: String) -> String? { try? String(contentsOfFile: path(name), encoding: .utf8) }

  /// The types and message numbers of the frames of a stream, in order.
  private func units(_ stream: Data, session: String) throws -> [String] {
    let reader = try SessionStreamReader(
      session: SessionSecrets(
        role: .responder, sessionID: [], localName: [], peerName: [], transcriptHash: [], verificationCode: "",
        send: bobToAlice, receive: session == "bob" ? aliceToBob : bobToAlice))
    let bytes = Array(stream)
    var offset = 0
    var out: [String] = []
    while offset < bytes.count {
      switch try bytes.withUnsafeBytes({ try reader.next(UnsafeRawBufferPointer(rebasing: $0[offset...]), atEnd: true) }
      ) {
      case .needMoreInput: return out + ["?"]
      case .message(let consumed, _, let text):
        out.append("m\(reader.messageCount - 1):\(text.count)")
        offset += consumed
      case .receipt(let consumed, _, let number):
        out.append("r\(number)")
        offset += consumed
      case .finished(let consumed, _, _):
        out.append("end")
        offset += consumed
      }
    }
    return out
  }

  /// Numbers waiting in the receipts input when the messages end are all sent, before the final
  /// frame; a line longer than a frame is two messages.
  func testReceiptsFromAFileAndMessageNumbers() throws {
    let numbers = write("numbers", (0..<100).map { "\($0)\n" }.joined())
    let sealed = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--receipts-from", numbers],
      stdin: .bytes(Data()))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    XCTAssertEqual(try units(sealed.stdout, session: "bob"), (0..<100).map { "r\($0)" } + ["end"])

    // 70,000 bytes on one line: messages 0 (65,536 bytes) and 1; then "b\n", message 2.
    let long = String(repeating: "a", count: 69_999) + "\nb\n"
    let stream = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session"))], stdin: .bytes(Data(long.utf8)))
    XCTAssertEqual(stream.status, 0, stream.stderr)
    XCTAssertEqual(try units(stream.stdout, session: "bob"), ["m0:65536", "m1:4464", "m2:2", "end"])
    let opened = try ToolRunner.run(
      "sc-open",
      [
        "-s", try ToolRunner.sessionCopy(path("bob.session")), "--receipts-to", path("shown"), "--delivered",
        path("delivered"),
      ],
      stdin: .bytes(stream.stdout))
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, Data(long.utf8))
    XCTAssertEqual(contents("shown"), "0\n1\n2\n")
    XCTAssertEqual(contents("delivered"), "")

    // Bob acknowledges them; alice's sc-open reports it.
    let receipts = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(path("bob.session")), "--receipts-from", path("shown")],
      stdin: .bytes(Data("ok\n".utf8)))
    XCTAssertEqual(receipts.status, 0, receipts.stderr)
    let units = try units(receipts.stdout, session: "alice")
    XCTAssertEqual(units.filter { $0.hasPrefix("r") }, ["r0", "r1", "r2"])
    XCTAssertEqual(units.filter { !$0.hasPrefix("r") }, ["m0:3", "end"])
    let delivered = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--delivered", path("alice.delivered")],
      stdin: .bytes(receipts.stdout))
    XCTAssertEqual(delivered.status, 0, delivered.stderr)
    XCTAssertEqual(delivered.stdout, Data("ok\n".utf8))
    XCTAssertEqual(contents("alice.delivered"), "0\n1\n2\n")

    // A file the shell opened, given as /dev/fd/N, is written at its end, not emptied.
    XCTAssertTrue(FileManager.default.createFile(atPath: path("receipts.bin"), contents: receipts.stdout))
    _ = write("log", "before\n")
    let q = ToolRunner.shellQuoted
    let shell = try ToolRunner.runExecutable(
      "/bin/sh",
      [
        "-c",
        "\(q(try ToolRunner.path(of: "sc-open"))) -s \(q(try ToolRunner.sessionCopy(path("alice.session")))) --delivered /dev/fd/4"
          + " <\(q(path("receipts.bin"))) 4>>\(q(path("log")))",
      ], stdin: .none)
    XCTAssertEqual(shell.status, 0, shell.stderr)
    XCTAssertEqual(contents("log"), "before\n0\n1\n2\n")
  }

  /// A fifo that nobody reads (this side's sc-seal ended before sc-open opened it, or never
  /// started) does not hold sc-open up: the messages are shown and sc-open exits 0, even with
  /// more numbers than the fifo holds. The fifos are on descriptors the shell opened (`<>`: a
  /// fifo named by its path is refused, see OutputTargetTests).
  func testFifoWithoutAReaderDoesNotHoldSCOpenUp() throws {
    for name in ["shown", "delivered"] { XCTAssertEqual(mkfifo(path(name), 0o600), 0) }
    let lines = (0..<20_000).map { "message \($0)\n" }.joined()
    let numbers = write("numbers", (0..<20_000).map { "\($0)\n" }.joined())
    let stream = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--receipts-from", numbers],
      stdin: .bytes(Data(lines.utf8)))
    XCTAssertEqual(stream.status, 0, stream.stderr)
    let start = Date()
    let opened = try ToolRunner.runExecutable(
      "/bin/sh",
      [
        "-c", #"exec "$@" 3<>"$D/shown" 4<>"$D/delivered""#, "sh", try ToolRunner.path(of: "sc-open"),
        "-s", try ToolRunner.sessionCopy(path("bob.session")), "--receipts-to", "/dev/fd/3", "--delivered", "/dev/fd/4",
      ], stdin: .bytes(stream.stdout), environment: ["D": directory], timeout: 20)
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, Data(lines.utf8))
    XCTAssertLessThan(Date().timeIntervalSince(start), 10)
  }

  /// A receipts input that is not 0, 1, 2, … in decimal lines is a local fault: status 2, one
  /// error line and a hint, and no final frame is sent.
  func testBadReceiptsInputIsStatus2() throws {
    for (name, text, words) in [
      ("gap", "0\n2\n", "acknowledges message 2, but 1 is next"),
      ("repeat", "0\n1\n1\n", "acknowledges message 1, but 2 is next"),
      ("not from 0", "1\n", "acknowledges message 1, but 0 is next"),
      ("leading zero", "00\n", "is not a decimal message number"),
      ("sign", "+0\n", "is not a decimal message number"),
      ("space", "0 \n", "is not a decimal message number"),
      ("empty line", "\n", "is not a decimal message number"),
      ("too large", "18446744073709551616\n", "is not a decimal message number"),
      ("too long", String(repeating: "1", count: 30) + "\n", "is not a decimal message number"),
      ("unfinished line", "0\n1", "ends in the middle of a line"),
    ] {
      let numbers = write("numbers", text)
      let result = try ToolRunner.run(
        "sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--receipts-from", numbers],
        stdin: .bytes(Data("hi\n".utf8)))
      XCTAssertEqual(result.status, 2, "\(name): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("sc-seal: error: line "), "\(name): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(words), "\(name): \(result.stderr)")
      XCTAssertFalse(try units(result.stdout, session: "bob").contains("end"), "\(name): a final frame was sent")
    }
  }

  func testReceiptOptionsOutsideSessionsAreUsageErrors() throws {
    _ = try ToolRunner.run("sc-keygen", ["-o", path("k.key")])
    let cases: [(String, [String])] = [
      ("sc-seal", ["-k", path("k.key"), "--receipts-from", "/dev/null"]),
      ("sc-open", ["-k", path("k.key"), "--receipts-to", path("x")]),
      ("sc-open", ["-k", path("k.key"), "--delivered", path("x")]),
      (
        "sc-open",
        ["-s", try ToolRunner.sessionCopy(path("bob.session")), "--receipts-to", path("x"), "-o", path("out")]
      ),
      ("sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--receipts-from", "-", "/dev/null"]),
      ("sc-open", ["-s", try ToolRunner.sessionCopy(path("bob.session")), "--delivered", "-"]),
      ("sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--receipts-from", path("missing")]),
      ("sc-seal", ["-s", try ToolRunner.sessionCopy(path("alice.session")), "--receipts-from", directory]),
    ]
    for (tool, arguments) in cases {
      let result = try ToolRunner.run(tool, arguments, stdin: .bytes(Data()))
      XCTAssertEqual(result.status, 2, "\(tool) \(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("\(tool): error: "), "\(tool) \(arguments): \(result.stderr)")
      XCTAssertEqual(result.stdout, Data(), "\(tool) \(arguments)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")), "a -o file was left behind")
  }
}
