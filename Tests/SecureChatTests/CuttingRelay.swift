import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A TCP relay on 127.0.0.1 that forwards each connection it accepts to `target` and spoils the
/// first one the way a flaky link does: once `cutAfter` bytes have gone from the client to the
/// server (exactly: the rest of a read that crosses the mark is dropped), it forwards nothing
/// more in either direction (what arrives is read and dropped) for
/// `silence` seconds, then resets both connections. Later connections are forwarded whole.
///
/// So some lines are lost on their way, and some receipts for lines that did arrive are lost
/// on theirs: the reconnect must send the first again, and the receiver must not show the
/// second twice. One thread runs poll(2) over everything; `stop()` closes it all.
final class CuttingRelay: @unchecked Sendable {
  let port: UInt16
  private let target: UInt16
  private let cutAfter: Int
  private let silence: TimeInterval
  private let listener: Int32
  private let lock = NSLock()
  private var stopping = false
  private var finished = false
  private var acceptedCount = 0
  private var cutCount = 0

  private final class Pair {
    let client: Int32
    let server: Int32
    let spoiled: Bool
    var forwardedFromClient = 0
    var silentUntil: Date?
    init(client: Int32, server: Int32, spoiled: Bool) {
      (self.client, self.server, self.spoiled) = (client, server, spoiled)
    }
  }

  init(target: UInt16, cutAfter: Int, silence: TimeInterval) throws {
    (self.target, self.cutAfter, self.silence) = (target, cutAfter, silence)
    let (fd, address) = try Loopback.listeningSocket(backlog: 16)
    listener = fd
    port = UInt16(bigEndian: address.sin_port)
    Thread { [self] in run() }.start()
  }

  /// Connections accepted, and connections cut, so far.
  var counts: (accepted: Int, cut: Int) { lock.withLock { (acceptedCount, cutCount) } }

  func stop() {
    lock.withLock { stopping = true }
    for _ in 0..<100 where !lock.withLock({ finished }) { usleep(20_000) }
  }

  private func connectToTarget() -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    var address = Loopback.address(port: target)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    if connected != 0 {
      close(fd)
      return -1
    }
    return fd
  }

  /// Closes with a reset (SO_LINGER 0), as a link that breaks does, not with a FIN.
  private static func reset(_ fd: Int32) {
    var linger = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
    close(fd)
  }

  private static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
      let sent = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
      if sent < 0 && errno == EINTR { continue }
      guard sent > 0 else { return false }
      offset += sent
    }
    return true
  }

  private func run() {
    var pairs: [Pair] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while !lock.withLock({ stopping }) {
      var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
      for pair in pairs {
        fds.append(pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0))
        fds.append(pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0))
      }
      _ = poll(&fds, nfds_t(fds.count), 50)
      let now = Date()
      if fds[0].revents & Int16(POLLIN) != 0 {
        let client = accept(listener, nil, nil)
        if client >= 0 {
          _ = fcntl(client, F_SETFD, FD_CLOEXEC)
          let server = connectToTarget()
          if server < 0 {
            close(client)
          } else {
            let first = lock.withLock {
              acceptedCount += 1
              return acceptedCount == 1
            }
            pairs.append(Pair(client: client, server: server, spoiled: first))
          }
        }
      }
      var ended: Set<ObjectIdentifier> = []
      for (index, pair) in pairs.enumerated() {
        if let until = pair.silentUntil, now >= until {
          Self.reset(pair.client)
          Self.reset(pair.server)
          lock.withLock { cutCount += 1 }
          ended.insert(ObjectIdentifier(pair))
          continue
        }
        for (offset, from, to) in [(1, pair.client, pair.server), (2, pair.server, pair.client)] {
          guard index * 2 + offset < fds.count, fds[index * 2 + offset].revents != 0 else { continue }
          let count = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress!, $0.count, 0) }
          if count <= 0 {
            close(pair.client)
            close(pair.server)
            ended.insert(ObjectIdentifier(pair))
            break
          }
          if pair.silentUntil != nil { continue }  // dropped on the floor
          // The cut falls exactly at `cutAfter` bytes, even inside what one read returned: a
          // sender that wrote everything at once still loses the end of it.
          var forward = count
          if pair.spoiled && from == pair.client { forward = min(count, cutAfter - pair.forwardedFromClient) }
          let delivered = buffer.withUnsafeBytes {
            Self.sendAll(to, UnsafeRawBufferPointer(rebasing: $0[0..<forward]))
          }
          if !delivered {
            close(pair.client)
            close(pair.server)
            ended.insert(ObjectIdentifier(pair))
            break
          }
          if from == pair.client {
            pair.forwardedFromClient += forward
            if pair.spoiled && pair.forwardedFromClient >= cutAfter {
              pair.silentUntil = now.addingTimeInterval(silence)
            }
          }
        }
      }
      pairs.removeAll { ended.contains(ObjectIdentifier($0)) }
    }
    for pair in pairs {
      close(pair.client)
      close(pair.server)
    }
    close(listener)
    lock.withLock { finished = true }
  }
}
