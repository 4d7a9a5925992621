Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Tty.AttachTest do
  # attach/3 end to end: a real Linx.Process session with stdio: :pty on one side, and on
  # the other a real pseudo-terminal standing in for the user's terminal. The test plays
  # the terminal emulator through a relay on the pty master: what it writes is what the
  # user types, what it reads is what the screen shows, and resizing the pty is the user
  # dragging the window's corner. The slave is handed to attach/3 as {:fd, slave}.
  use ExUnit.Case, async: true

  # Sessions whose owner is killed log their own termination.
  @moduletag capture_log: true

  import Linx.Tty.TestHelpers

  alias Linx.Tty
  alias Linx.Tty.{Error, Relay, WindowSize}

  setup do
    {:ok, pty} = Tty.open_pty()
    {:ok, screen} = Relay.open(pty.master)
    before = stty!(pty.path, ["-g"])

    on_exit(fn ->
      Relay.close(screen, 0)
      Tty.close_pty(pty)
    end)

    %{pty: pty, screen: screen, before: before}
  end

  # A process that spawns `argv` on a pty (it owns the session) and attaches to the
  # test's pty slave; the result comes back as {:attached, pid, result}. It stays alive
  # until told to stop, so the session (linked to it) outlives the attach.
  defp start_attached(pty, argv, opts \\ [], spawn_opts \\ [auto_proceed: true]) do
    parent = self()

    pid =
      spawn(fn ->
        {:ok, s} = Linx.Process.spawn([argv: argv, stdio: :pty] ++ spawn_opts)
        send(parent, {:session, self(), s})
        result = Tty.attach({:fd, pty.slave}, s, opts)
        send(parent, {:attached, self(), result})
        receive do: (:stop -> :ok)
      end)

    assert_receive {:session, ^pid, session}, 5_000
    on_exit(fn -> stop(pid) end)
    {pid, session}
  end

  defp type(screen, bytes), do: :ok = Relay.write(screen, bytes)

  # Types `keys` until `text` shows up (for changes that land asynchronously).
  defp ask_until(screen, keys, text, tries \\ 25) do
    type(screen, keys)
    read_until(screen, text, 400)
  rescue
    e in ExUnit.AssertionError ->
      if tries > 1, do: ask_until(screen, keys, text, tries - 1), else: reraise(e, __STACKTRACE__)
  end

  # Lets the attaching process end normally (its session then stops quietly); kills it
  # only if it is still attached.
  defp stop(pid) do
    ref = Process.monitor(pid)
    send(pid, :stop)

    receive do
      {:DOWN, ^ref, _, _, _} -> :ok
    after
      1_000 -> Process.exit(pid, :kill)
    end
  end

  defp result(pid, timeout \\ 10_000) do
    assert_receive {:attached, ^pid, result}, timeout
    result
  end

  test "typed keys reach the workload, its output reaches the terminal, raw while attached",
       %{pty: pty, screen: screen, before: before} do
    {pid, _s} =
      start_attached(pty, [
        "/bin/sh",
        "-c",
        ~S(printf 'ready\n'; read line; printf 'got[%s]\n' "$line"; exit 3)
      ])

    read_until(screen, "ready")
    # The user's terminal is raw while attached: keys go through one by one, unechoed.
    words = stty_words(pty.path)
    assert "-icanon" in words and "-echo" in words and "-isig" in words
    type(screen, "hello world\r")
    # The workload's own terminal (cooked) echoes the line, then the shell prints.
    out = read_until(screen, "got[hello world]")
    assert out =~ "hello world\r\n"
    assert result(pid) == {:ok, {:exited, 3}}
    # Put back exactly as it was.
    assert stty!(pty.path, ["-g"]) == before
  end

  test "the window size is seeded from the terminal and follows its resizes",
       %{pty: pty, screen: screen} do
    :ok = Tty.set_window_size(pty.master, %WindowSize{rows: 30, cols: 100, xpixel: 0, ypixel: 0})

    {pid, _s} =
      start_attached(
        pty,
        ["/bin/sh", "-c", "echo ready; while read l; do stty size; done"],
        winsize_poll_ms: 20
      )

    read_until(screen, "ready")
    type(screen, "\r")
    read_until(screen, "30 100")

    # The user resizes the window: the terminal's size changes (the emulator sets it on
    # its master), and the workload's pty follows.
    :ok = Tty.set_window_size(pty.master, %WindowSize{rows: 40, cols: 120, xpixel: 0, ypixel: 0})
    # The next poll (every 20 ms) carries it over; ask until it has.
    ask_until(screen, "\r", "40 120")
    # Ctrl-D ends `read`, the loop, the shell.
    type(screen, "\x04")
    assert result(pid) == {:ok, {:exited, 0}}
  end

  test "a resize reaches a full-screen workload as SIGWINCH", %{pty: pty, screen: screen} do
    script = ~S"""
    trap 'printf "winch %s\n" "$(stty size)"' WINCH
    echo ready
    while :; do sleep 0.05; done
    """

    {pid, s} = start_attached(pty, ["/bin/sh", "-c", script], winsize_poll_ms: 20)
    read_until(screen, "ready")
    :ok = Tty.set_window_size(pty.master, %WindowSize{rows: 12, cols: 34, xpixel: 0, ypixel: 0})
    read_until(screen, "winch 12 34")
    :ok = Linx.Process.signal(s, 9)
    assert result(pid) == {:ok, {:signaled, 9}}
  end

  test "Ctrl-C is byte 3, which the workload's terminal turns into SIGINT",
       %{pty: pty, screen: screen} do
    {pid, _s} = start_attached(pty, ["/bin/sh", "-c", "echo ready; exec sleep 100"])
    read_until(screen, "ready")
    type(screen, <<3>>)
    assert result(pid) == {:ok, {:signaled, 2}}
  end

  test "all output is on the terminal when attach returns", %{pty: pty, screen: screen} do
    {pid, _s} =
      start_attached(pty, ["/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo END"])

    out = read_until(screen, "END", 20_000)
    assert {:ok, {:exited, 0}} = result(pid)
    assert out |> String.graphemes() |> Enum.count(&(&1 == "x")) == 300_000
  end

  describe "detaching" do
    test "Ctrl-P Ctrl-Q detaches, even split across reads; the workload keeps running",
         %{pty: pty, screen: screen, before: before} do
      {pid, s} = start_attached(pty, ["/bin/sh", "-c", "echo ready; exec cat"])
      read_until(screen, "ready")
      type(screen, "one\r")
      read_until(screen, "one\r\none\r\n")
      type(screen, <<16>>)
      Process.sleep(100)
      # Held, not yet sent: nothing was echoed for it.
      refute_receive {:linx_tty, _, {:data, _}}, 50
      type(screen, <<17>>)
      assert result(pid) == {:ok, :detached}
      assert stty!(pty.path, ["-g"]) == before
      assert {:ok, %{stage: :running}} = Linx.Process.info(s)
      :ok = Linx.Process.signal(s, 15)
    end

    test "a started sequence that does not complete is passed on", %{pty: pty, screen: screen} do
      {pid, s} = start_attached(pty, ["/bin/sh", "-c", "echo ready; exec cat"])
      read_until(screen, "ready")
      # Ctrl-P then "x": both reach cat (its terminal echoes ^P as "^P").
      type(screen, <<16>>)
      Process.sleep(50)
      type(screen, "x\r")
      read_until(screen, "^Px\r\n\x10x\r\n")
      :ok = Linx.Process.signal(s, 9)
      assert result(pid) == {:ok, {:signaled, 9}}
    end

    test "a custom key, and nil which disables detaching", %{pty: pty, screen: screen} do
      {pid, _s} =
        start_attached(pty, ["/bin/sh", "-c", "echo ready; exec cat"], detach_key: "~.")

      read_until(screen, "ready")
      type(screen, "a~b\r")
      read_until(screen, "a~b\r\na~b\r\n")
      type(screen, "~.")
      assert result(pid) == {:ok, :detached}

      {:ok, pty2} = Tty.open_pty()
      {:ok, screen2} = Relay.open(pty2.master)

      {pid2, s2} =
        start_attached(pty2, ["/bin/sh", "-c", "echo ready; exec cat"], detach_key: nil)

      read_until(screen2, "ready")
      # Ctrl-P reaches cat (Ctrl-Q is the workload terminal's own flow-control key).
      type(screen2, <<16, 17>> <> "z\r")
      read_until(screen2, "\x10z\r\n")
      :ok = Linx.Process.signal(s2, 9)
      assert result(pid2) == {:ok, {:signaled, 9}}
      Relay.close(screen2, 0)
      Tty.close_pty(pty2)
    end

    test "scan/3 holds only what could still become the key" do
      alias Linx.Tty.Attach
      key = <<16, 17>>
      assert Attach.scan(<<>>, "abc", key) == {:pass, "abc", <<>>}
      assert Attach.scan(<<>>, "ab" <> <<16>>, key) == {:pass, "ab", <<16>>}
      assert Attach.scan(<<16>>, <<17>> <> "zz", key) == {:detach, <<>>}
      assert Attach.scan(<<16>>, "q", key) == {:pass, <<16>> <> "q", <<>>}
      assert Attach.scan(<<>>, "x" <> key <> "y", key) == {:detach, "x"}
      assert Attach.scan("", "~~", "~.") == {:pass, "~", "~"}
      assert Attach.scan("~", ".", "~.") == {:detach, ""}
      assert Attach.scan(<<>>, <<16, 17>>, nil) == {:pass, <<16, 17>>, <<>>}
      assert Attach.scan(<<>>, "abcab", "abcabd") == {:pass, "", "abcab"}
      assert Attach.scan("abcab", "c", "abcabd") == {:pass, "abc", "abc"}
    end
  end

  test "attached at the checkpoint: keys wait until the workload runs",
       %{pty: pty, screen: screen} do
    {pid, s} =
      start_attached(
        pty,
        ["/bin/sh", "-c", ~S(read l; echo "got[$l]")],
        [],
        []
      )

    wait_until(fn -> match?({:ok, %{stage: :ready}}, Linx.Process.info(s)) end)
    # Attach checks the terminal is raw before the user types.
    wait_until(fn -> "-icanon" in stty_words(pty.path) end)
    type(screen, "early\r")
    Process.sleep(100)
    :ok = Linx.Process.proceed(s)
    read_until(screen, "got[early]")
    assert result(pid) == {:ok, {:exited, 0}}
  end

  describe "ending without the workload ending" do
    test "a terminal that hangs up ends the attach with a :terminal error",
         %{pty: pty, screen: screen} do
      {pid, s} = start_attached(pty, ["/bin/sh", "-c", "exec sleep 100"])
      wait_until(fn -> "-icanon" in stty_words(pty.path) end)
      wait_until(fn -> match?({:ok, %{stage: :running}}, Linx.Process.info(s)) end)
      # The emulator goes away (its relay held a copy of the master): the slave hangs up.
      :ok = Relay.close(screen, 0)
      :ok = Tty.close_pty(pty)
      assert {:error, %Error{operation: :terminal}} = result(pid)
      assert {:ok, %{stage: :running}} = Linx.Process.info(s)
      :ok = Linx.Process.signal(s, 9)
    end

    test "killing the attached process still restores the terminal",
         %{pty: pty, before: before} do
      {pid, _s} = start_attached(pty, ["/bin/sh", "-c", "exec sleep 100"])
      wait_until(fn -> "-icanon" in stty_words(pty.path) end)
      Process.exit(pid, :kill)
      wait_until(fn -> stty!(pty.path, ["-g"]) == before end, 5_000, "restore after :kill")
    end

    test "a session that disappears ends the attach with :no_process",
         %{pty: pty, before: before} do
      parent = self()

      pid =
        spawn(fn ->
          {:ok, s} =
            Linx.Process.spawn(argv: ["/bin/sleep", "100"], stdio: :pty, auto_proceed: true)

          Process.unlink(s)
          send(parent, {:session, s})
          send(parent, {:attached, self(), Tty.attach({:fd, pty.slave}, s)})
        end)

      assert_receive {:session, s}
      wait_until(fn -> "-icanon" in stty_words(pty.path) end)
      Process.exit(s, :kill)
      assert result(pid) == {:error, :no_process}
      assert stty!(pty.path, ["-g"]) == before
    end

    test "a linked crash ends the caller as it would have, after the restore",
         %{pty: pty, before: before} do
      {pid, s} = start_attached(pty, ["/bin/sh", "-c", "exec sleep 100"])
      ref = Process.monitor(pid)
      wait_until(fn -> "-icanon" in stty_words(pty.path) end)
      Process.exit(s, :kill)
      assert_receive {:DOWN, ^ref, :process, ^pid, :killed}, 5_000
      assert stty!(pty.path, ["-g"]) == before
    end
  end

  describe "refusals" do
    test "an ended session, a session without a pty, a descriptor that is not a terminal",
         %{pty: pty} do
      {:ok, s} = Linx.Process.spawn(argv: ["/bin/true"], stdio: :pty, auto_proceed: true)
      {:ok, _} = Linx.Process.wait(s)
      assert Tty.attach({:fd, pty.slave}, s) == {:error, :no_process}

      {:ok, s} = Linx.Process.spawn(argv: ["/bin/sleep", "100"], stdio: :devnull)
      assert Tty.attach({:fd, pty.slave}, s) == {:error, :no_pty}
      GenServer.stop(s)
      assert Tty.attach({:fd, pty.slave}, s) == {:error, :no_process}

      {:ok, s} = Linx.Process.spawn(argv: ["/bin/sleep", "100"], stdio: :pty, auto_proceed: true)
      {sock, fd} = socket_fd()

      assert {:error, %Error{operation: :tcgetattr, errno: :enotty}} =
               Tty.attach({:fd, fd}, s)

      assert {:error, %Error{operation: :tcgetattr, errno: :ebadf}} =
               Tty.attach({:fd, 99_999}, s)

      :socket.close(sock)
      GenServer.stop(s)
    end

    test "bad arguments raise ArgumentError naming the value", %{pty: pty} do
      assert_raise ArgumentError, ~r/attach target.*:console/, fn ->
        Tty.attach(:console, self())
      end

      assert_raise ArgumentError, ~r/file descriptor.*-2/, fn -> Tty.attach({:fd, -2}, self()) end

      assert_raise ArgumentError, ~r/session pid.*"s"/, fn ->
        Tty.attach({:fd, pty.slave}, "s")
      end

      {:ok, s} = Linx.Process.spawn(argv: ["/bin/sleep", "100"], stdio: :pty, auto_proceed: true)

      for bad <- [[detach_key: ""], [detach_key: :ctrl_p], [winsize_poll_ms: 0], [bogus: 1]] do
        assert_raise ArgumentError, ~r/bad option #{Regex.escape(inspect(hd(bad)))}/, fn ->
          Tty.attach({:fd, pty.slave}, s, bad)
        end
      end

      assert_raise ArgumentError, ~r/keyword list.*:nope/, fn ->
        Tty.attach({:fd, pty.slave}, s, :nope)
      end

      GenServer.stop(s)
    end
  end
end
