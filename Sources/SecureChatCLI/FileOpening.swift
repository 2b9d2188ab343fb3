import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-open -k` and `sc-open -i`: verifies and decrypts a sealed file (version 1 or 2), binary or armored (recognised by its first
/// line), in constant memory. The calling thread reads and verifies (CRC, HMAC, sequence, chunk
/// rules) while a worker decrypts and writes. The HMAC is the dearest step, so the reader hands
/// the tag checks of a batch to the worker whenever the worker has no backlog (the two cores then
/// share the work evenly); the worker checks every tag of such a batch before it decrypts a frame
/// of it. Either way no unauthenticated plaintext is ever written, and the error reported is the
/// first in file order (FORMATS.md §2.3).
public enum FileOpening {
  static let batchCount = 4
  static let queueCapacity = (1 << 20) + RecordLayer.maxFrameSize
  typealias Batch = FrameBatch<(offset: Int, length: Int, frame: VerifiedFrame)>

  /// `refuseBinaryOnTerminal`: stop before writing plaintext that is not text to a terminal.
  /// Returns who sealed the file (FORMATS.md §12.2 step 6).
  @discardableResult
  public static func open(
    input: FileDescriptor, output: OutputFile, opener: SealedFileReader.Opener, refuseBinaryOnTerminal: Bool
  ) throws -> SealedFileReader.Sender {
    let queue = try makeQueue(input: input)
    let reader = SealedFileReader(opener: opener)
    // Grown to what a batch needs: a small file does not set up (and wipe) half a megabyte.
    var plaintext = SecretBytes(count: 0)
    var decryptor: FrameDecryptor?
    let checkForBinary = refuseBinaryOnTerminal && output.fd.isTerminal

    let pipeline = TwoStagePipeline(slots: (0..<batchCount).map { _ in Batch() })
    // Created before the worker starts, once the header has verified (see below).
    func startWorker(_ decryptor: FrameDecryptor, _ tagChecker: FrameTagChecker) {
      pipeline.start { batch in
        if plaintext.count < batch.used { plaintext = SecretBytes(count: min(Batch.capacity, 2 * batch.used)) }
        try plaintext.withUnsafeMutableBytes { out in
          var produced = 0
          // What was decrypted before a failure is authentic and goes out before the error.
          func write() throws {
            let bytes = UnsafeRawBufferPointer(rebasing: out[0..<produced])
            if checkForBinary && bytes.contains(where: isBinary) {
              throw ToolError(
                "refusing to write binary plaintext to a terminal", hints: ["use -o FILE, or -o - to force it"])
            }
            try output.write(bytes)
          }
          for entry in batch.entries {
            let frame = UnsafeRawBufferPointer(start: batch.buffer + entry.offset, count: entry.length)
            do {
              if batch.tagsToCheck { try tagChecker.check(frame: frame) }
              let count = try decryptor.decrypt(frame: frame, into: out.baseAddress! + produced)
              try SealedFile.checkPlaintextCount(count, of: entry.frame)
              produced += count
            } catch {
              try write()
              throw error
            }
          }
          try write()
        }
      }
    }

    var batch: Batch?
    var failure: Error?
    reading: while true {
      // A batch's frames all have their tags checked here, or all by the worker: decided at its
      // first frame: the worker takes them unless it has a batch waiting besides its current one.
      let workerChecksTags = batch?.tagsToCheck ?? (decryptor != nil && pipeline.workerBacklog <= 1)
      let step: SealedFileReader.Step
      do {
        step = try reader.next(queue.readable, atEnd: queue.atEnd, checkingTags: !workerChecksTags)
      } catch {
        failure = error
        break reading
      }
      switch step {
      case .needMoreInput:
        try queue.fill()
      case .header(let consumed):
        queue.consume(consumed)
        let created = try FrameDecryptor(key: reader.keys!.frames.encryption)
        decryptor = created
        startWorker(created, try FrameTagChecker(key: reader.keys!.frames.authentication))
      case .frame(let consumed, let frame):
        if batch == nil {
          batch = try pipeline.acquire()
          batch!.reset()
          batch!.tagsToCheck = workerChecksTags
        }
        let current = batch!
        current.buffer.advanced(by: current.used).copyMemory(from: queue.readable.baseAddress!, byteCount: consumed)
        current.entries.append((current.used, consumed, frame))
        current.used += consumed
        queue.consume(consumed)
        if current.isFull {
          pipeline.submit(isLast: false)
          batch = nil
        }
      case .trailer(let consumed):
        queue.consume(consumed)
      case .finished:
        break reading
      }
    }
    // Frames verified before a failure are authentic; the worker writes them and stops.
    if decryptor != nil {
      if batch != nil { pipeline.submit(isLast: true) }
      try pipeline.finish()
    }
    if let failure { throw failure }
    return reader.sender
  }

  /// Reads the first line's worth of input to tell armor from binary.
  private static func makeQueue(input: FileDescriptor) throws -> InputQueue {
    var prefix = [UInt8](repeating: 0, count: Armor.beginLine.count)
    let count = try prefix.withUnsafeMutableBytes { try input.readFully(into: $0) }
    prefix.removeLast(prefix.count - count)
    if Armor.looksArmored(prefix) {
      let source = try ArmorSource(input: input, prefix: prefix)
      return InputQueue(capacity: queueCapacity, source: source.read)
    }
    return InputQueue(capacity: queueCapacity, prefix: prefix, source: input.read)
  }

  /// Bytes that make a terminal do things: controls other than tab, newline, carriage return.
  @inline(__always)
  static func isBinary(_ byte: UInt8) -> Bool {
    (byte < 0x20 && byte != 0x09 && byte != 0x0a && byte != 0x0d) || byte == 0x7f
  }
}
