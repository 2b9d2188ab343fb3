import SecureChatCrypto
import SecureChatProtocol

/// `sc-seal -k`: a sealed file (FORMATS.md §3), binary or armored, in constant memory.
///
/// AES-CBC encryption is serial within a frame and is the slowest step (≈ 1 GB/s here), so the
/// calling thread reads and encrypts while a worker authenticates (HMAC, CRC) and writes.
public enum FileSealing {
  static let framesPerBatch = 8
  static let batchCount = 4

  final class Batch {
    let buffer: UnsafeMutableRawPointer
    /// Where each frame starts in `buffer` and its ciphertext length.
    var frames: [(offset: Int, ciphertextCount: Int)] = []
    var used = 0
    static let capacity = framesPerBatch * RecordLayer.maxFrameSize

    init() {
      buffer = .allocate(byteCount: Self.capacity, alignment: 16)
      buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity)
    }
    deinit { buffer.deallocate() }
  }

  public static func seal(input: FileDescriptor, output: OutputFile, key: KeyFile.Key, armored: Bool) throws {
    let salt = SecureRandom.bytes(count: SealedFile.saltSize)
    let keys = try SealedFile.deriveKeys(fileKey: key.secret, salt: salt)
    let encryptor = try FrameEncryptor(key: keys.frames.encryption)
    let authenticator = try FrameAuthenticator(key: keys.frames.authentication)
    let writer = SealedWriter(output: output, armored: armored)
    try writer.write(SealedFile.header(salt: salt, keys: keys))

    let pipeline = TwoStagePipeline(slots: (0..<batchCount).map { _ in Batch() })
    pipeline.start { batch in
      for frame in batch.frames {
        authenticator.authenticate(frame: batch.buffer + frame.offset, ciphertextCount: frame.ciphertextCount)
      }
      try writer.write(UnsafeRawBufferPointer(start: batch.buffer, count: batch.used))
    }

    let reader = ChunkReader(input: input, chunkSize: SealedFile.chunkSize)
    var sequence: UInt64 = 0
    do {
      var batch = try pipeline.acquire()
      batch.frames.removeAll(keepingCapacity: true)
      batch.used = 0
      while let (chunk, isFinal) = try reader.next() {
        let ciphertextCount = encryptor.encrypt(
          plaintext: chunk, type: .data, isFinal: isFinal, sequence: sequence, into: batch.buffer + batch.used)
        batch.frames.append((batch.used, ciphertextCount))
        batch.used += RecordLayer.frameOverhead + ciphertextCount
        sequence += 1
        if isFinal || batch.frames.count == framesPerBatch {
          pipeline.submit(isLast: isFinal)
          if isFinal { break }
          batch = try pipeline.acquire()
          batch.frames.removeAll(keepingCapacity: true)
          batch.used = 0
        }
      }
    } catch {
      try? pipeline.finish()
      throw error
    }
    try pipeline.finish()
    try writer.finish()
  }
}

/// Writes the sealed bytes as they are or as armor.
final class SealedWriter {
  private let output: OutputFile
  private var armor: ArmorEncoder?
  private var text: [UInt8] = []

  init(output: OutputFile, armored: Bool) {
    self.output = output
    if armored {
      armor = ArmorEncoder()
      text = armor!.header()
    }
  }

  func write(_ bytes: UnsafeRawBufferPointer) throws {
    guard armor != nil else { return try output.write(bytes) }
    armor!.encode(bytes, into: &text)
    try output.write(text)
    text.removeAll(keepingCapacity: true)
  }

  func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

  func finish() throws {
    guard armor != nil else { return }
    armor!.finish(into: &text)
    try output.write(text)
    text.removeAll()
  }
}
