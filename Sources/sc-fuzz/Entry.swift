// Two builds of one program (docs/TESTING.md):
//
// - `swift build --sanitize=fuzzer -Xswiftc -DFUZZING --product sc-fuzz` (scripts/fuzz.sh): libFuzzer
//   provides `main` and calls `LLVMFuzzerTestOneInput`; SC_FUZZ_TARGET names the target.
// - any other build: a replay tool, `sc-fuzz TARGET FILE|DIR...`, that runs a target over files
//   (crash inputs, corpora) and prints each outcome; the normal test suite uses it.
//
// Both builds also answer `sc-fuzz --list` and `sc-fuzz --seeds VECTORDIR OUTDIR`.

#if canImport(Glibc)
  import Glibc
#endif

enum Command {
  static let usage = """
    usage: sc-fuzz TARGET FILE|DIR...           run a target over inputs (replay), print outcomes
           sc-fuzz --list                       the targets and what they feed
           sc-fuzz --seeds VECTORDIR OUTDIR     write a seed corpus per target: OUTDIR/TARGET/
    """

  /// Handles `arguments` (without the program name); returns the exit status.
  static func run(_ arguments: [String]) -> Int32 {
    do {
      switch arguments.first {
      case "--list":
        for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
      case "--seeds":
        guard arguments.count == 3 else { throw FuzzToolError(usage) }
        let vectors = try Vectors(directory: arguments[1])
        try Files.makeDirectory(arguments[2])
        for target in FuzzTarget.all {
          let directory = arguments[2] + "/" + target.name
          try Files.makeDirectory(directory)
          let seeds = target.seeds(vectors)
          for (index, seed) in seeds.enumerated() {
            try Files.write(seed.bytes, to: "\(directory)/\(index)-\(seed.name)")
          }
          print("\(target.name): \(seeds.count) seeds")
        }
      case let name?:
        guard let target = FuzzTarget.named(name), arguments.count > 1 else {
          throw FuzzToolError(FuzzTarget.named(name) == nil ? "unknown target '\(name)' (see --list)" : usage)
        }
        for operand in arguments.dropFirst() {
          for path in try Files.list(operand) { print("\(path): \(target.run(try Files.read(path)))") }
        }
      case nil:
        throw FuzzToolError(usage)
      }
      return 0
    } catch {
      printError("sc-fuzz: error: \(error)")
      return 2
    }
  }
}

func printError(_ line: String) {
  var line = line + "\n"
  line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

#if FUZZING
  /// The target named by SC_FUZZ_TARGET.
  let selectedTarget: FuzzTarget = {
    let name = getenv("SC_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget.named(name) else {
      printError("sc-fuzz: error: set SC_FUZZ_TARGET to one of: \(FuzzTarget.all.map(\.name).joined(separator: " "))")
      exit(2)
    }
    return target
  }()

  @_cdecl("LLVMFuzzerInitialize")
  public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
  ) -> CInt {
    let arguments = (1..<Int(argc.pointee)).map { String(cString: argv.pointee![$0]!) }
    if arguments.first == "--list" || arguments.first == "--seeds" { exit(Command.run(arguments)) }
    _ = selectedTarget
    // The fixtures once, before the first input is timed.
    _ = Fixtures.goodHandshake
    _ = Fixtures.session
    _ = Fixtures.logKeys
    _ = Fixtures.publicLogAuditKey
    return 0
  }

  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = selectedTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
  }
#else
  @main
  enum Replay {
    static func main() {
      exit(Command.run(Array(CommandLine.arguments.dropFirst())))
    }
  }
#endif
