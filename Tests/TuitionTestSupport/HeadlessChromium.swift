import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3,
/// replies on fd 4, NUL-terminated JSON), so a test needs no WebDriver and no WebSocket client.
///
/// Calls block their thread with deadlines; run the whole script through `HeadlessChromium.drive`, which keeps it
/// off Swift's cooperative pool so the server under test keeps answering.
public final class HeadlessChromium: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    let pid: pid_t
    let commands: Int32
    let replies: Int32
    let profile: URL
    public let logFile: URL
    let condition = NSCondition()
    var inbox: [[String: Any]] = []
    var readerFinished = false
    var nextID = 0
    /// The page's DevTools session once `open` has attached to it.
    var session: String?

    /// Starts Chromium; `--no-sandbox` when running as root (CI containers), which its sandbox refuses.
    public init(executable: URL) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        logFile = profile.appendingPathComponent("chromium.log")
        var toChromium: [Int32] = [0, 0]
        var fromChromium: [Int32] = [0, 0]
        // Close-on-exec from the start (a program another test spawns meanwhile inherits none of them): Chromium gets
        // only the two ends dup2'd to fds 3 and 4.
        guard closeOnExecPipe(&toChromium), closeOnExecPipe(&fromChromium) else { throw Failure("pipe failed: \(errno)") }
        var arguments = [
            executable.path, "--headless=new", "--remote-debugging-pipe", "--user-data-dir=\(profile.path)", "--no-first-run",
            "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--mute-audio", "--hide-scrollbars",
            "--window-size=1280,1800", "about:blank",
        ]
        if geteuid() == 0 { arguments.insert("--no-sandbox", at: 1) }
        let logPath = logFile.path
        let (child, spawned) = spawn(executable, argv: arguments) { actions in
            posix_spawn_file_actions_adddup2(actions, toChromium[0], 3)
            posix_spawn_file_actions_adddup2(actions, fromChromium[1], 4)
            posix_spawn_file_actions_addopen(actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(actions, 1, 2)
        }
        Glibc.close(toChromium[0])
        Glibc.close(fromChromium[1])
        guard spawned == 0 else {
            Glibc.close(toChromium[1])
            Glibc.close(fromChromium[0])
            throw Failure("could not start \(executable.path): error \(spawned)")
        }
        pid = child
        commands = toChromium[1]
        replies = fromChromium[0]
        let reader = Thread { [self] in readReplies() }
        reader.start()
    }

    deinit {
        Glibc.close(commands)
        Glibc.close(replies)
        try? FileManager.default.removeItem(at: profile)
    }

    /// Runs a blocking browser script on a thread of its own and awaits it. A cancelled test (its time limit passed)
    /// stops waiting at once; the script's thread ends by itself within its calls' timeouts, so the test process
    /// can still finish instead of hanging on a continuation nobody resumes.
    public static func drive<T: Sendable>(_ script: @escaping @Sendable () throws -> T) async throws -> T {
        let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiting.withLock { $0 = continuation }
                Thread {
                    let result = Result { try script() }
                    waiting.withLock { $0.take() }?.resume(with: result)
                }.start()
            }
        } onCancel: {
            waiting.withLock { $0.take() }?.resume(throwing: CancellationError())
        }
    }

    private func readReplies() {
        var pending = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(replies, &chunk, chunk.count)
            if count <= 0 { break }
            pending.append(contentsOf: chunk[0..<count])
            while let end = pending.firstIndex(of: 0) {
                let message = (try? JSONSerialization.jsonObject(with: Data(pending[..<end]))) as? [String: Any]
                pending.removeSubrange(...end)
                guard let message else { continue }
                condition.lock()
                inbox.append(message)
                condition.broadcast()
                condition.unlock()
            }
        }
        condition.lock()
        readerFinished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Takes the first message matching `predicate`, waiting until `timeout`.
    private func take(timeout: TimeInterval, what: String, _ predicate: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let index = inbox.firstIndex(where: predicate) { return inbox.remove(at: index) }
            if readerFinished { throw Failure("Chromium exited while waiting for \(what); its log: \(log)") }
            if !condition.wait(until: deadline) { throw Failure("timed out after \(Int(timeout)) s waiting for \(what)") }
        }
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Sends a command and waits for its reply's `result`; a protocol error throws.
    @discardableResult
    public func call(_ method: String, _ parameters: [String: Any] = [:], browserLevel: Bool = false, timeout: TimeInterval = 20) throws
        -> [String: Any]
    {
        condition.lock()
        nextID += 1
        let id = nextID
        condition.unlock()
        var message: [String: Any] = ["id": id, "method": method, "params": parameters]
        if !browserLevel, let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure("writing \(method) to Chromium failed: \(errno)") }
            written += count
        }
        let reply = try take(timeout: timeout, what: method) { $0["id"] as? Int == id }
        if let error = reply["error"] { throw Failure("\(method) failed: \(error)") }
        return reply["result"] as? [String: Any] ?? [:]
    }

    /// Forgets events received so far, so `waitFor` sees only what happens next.
    public func discardEvents() {
        condition.lock()
        inbox.removeAll { $0["id"] == nil }
        condition.unlock()
    }

    public func waitFor(event name: String, timeout: TimeInterval = 20) throws {
        _ = try take(timeout: timeout, what: name) { $0["method"] as? String == name && $0["sessionId"] as? String == session }
    }

    /// Opens a tab, attaches to it, and sets the viewport.
    public func open(width: Int = 1280, height: Int = 1800) throws {
        let target = try call("Target.createTarget", ["url": "about:blank"], browserLevel: true)
        guard let targetID = target["targetId"] as? String else { throw Failure("no targetId in \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true], browserLevel: true)
        guard let session = attached["sessionId"] as? String else { throw Failure("no sessionId in \(attached)") }
        self.session = session
        try call("Page.enable")
        try call("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
    }

    /// Loads `url` and waits for the load event.
    public func navigate(_ url: String) throws {
        discardEvents()
        let result = try call("Page.navigate", ["url": url])
        if let error = result["errorText"] as? String { throw Failure("navigating to \(url): \(error)") }
        try waitFor(event: "Page.loadEventFired")
    }

    /// Runs `script` (which starts a navigation: a submit, a click) and waits for the next page's load event.
    public func navigate(by script: String) throws {
        discardEvents()
        _ = try evaluate(script)
        try waitFor(event: "Page.loadEventFired")
    }

    /// Evaluates JavaScript in the page and returns its value (strings, numbers, booleans).
    public func evaluate(_ expression: String) throws -> Any? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = result["exceptionDetails"] { throw Failure("\(expression) threw \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    public func screenshot(to file: URL) throws {
        let result = try call("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else { throw Failure("no screenshot data") }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
    }

    /// Asks Chromium to close, then makes sure it is gone.
    public func quit() {
        _ = try? call("Browser.close", browserLevel: true, timeout: 5)
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }
}
