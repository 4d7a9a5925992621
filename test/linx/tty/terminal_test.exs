Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Tty.TerminalTest do
  # The terminal primitives on real pseudo-terminals, checked against `stty`, which
  # reads the terminal through its /dev/pts path with its own tcgetattr/ioctl calls.
  # async: false because some tests check that descriptor numbers get closed.
  use ExUnit.Case, async: false

  import Linx.Tty.TestHelpers

  alias Linx.Tty
  alias Linx.Tty.{Error, Native, Pty, Saved, WindowSize}

  setup do
    {:ok, pty} = Tty.open_pty()
    on_exit(fn -> Tty.close_pty(pty) end)
    %{pty: pty}
  end

  test "the NIF is loaded" do
    assert Tty.version() == "linx_tty"
  end

  describe "open_pty/0" do
    test "a master and a slave at a /dev/pts path that stty can open", %{pty: pty} do
      assert %Pty{path: "/dev/pts/" <> n} = pty
      assert String.to_integer(n) >= 0
      assert File.exists?(pty.path)
      # The kernel's defaults for a new pty: cooked, echoing, 0x0.
      words = stty_words(pty.path)
      assert MapSet.subset?(MapSet.new(~w(icanon echo isig opost icrnl)), words)
      assert stty_size(pty.path) == {0, 0}
      assert inspect(pty) == "#Linx.Tty.Pty<#{pty.path} master=#{pty.master} slave=#{pty.slave}>"
    end

    test "both descriptors are close-on-exec and are closed by close_pty/1" do
      {:ok, pty} = Tty.open_pty()

      for fd <- [pty.master, pty.slave] do
        {:ok, info} = File.read("/proc/self/fdinfo/#{fd}")
        [flags] = Regex.run(~r/flags:\s+([0-7]+)/, info, capture: :all_but_first)
        # O_CLOEXEC is 0o2000000 (asm-generic/fcntl.h).
        assert Bitwise.band(String.to_integer(flags, 8), 0o2000000) != 0
      end

      assert File.exists?("/proc/self/fd/#{pty.slave}")
      assert :ok = Tty.close_pty(pty)
      refute File.exists?("/proc/self/fd/#{pty.master}")
      refute File.exists?("/proc/self/fd/#{pty.slave}")
      assert :ok = Tty.close_pty(pty)
    end

    test "a dropped pty is closed by garbage collection" do
      parent = self()

      pid =
        spawn(fn ->
          {:ok, pty} = Tty.open_pty()
          send(parent, {:fds, pty.master, pty.slave})
          receive do: (:go -> :ok)
        end)

      assert_receive {:fds, m, s}
      assert File.exists?("/proc/self/fd/#{s}")
      send(pid, :go)
      wait_until(fn -> not File.exists?("/proc/self/fd/#{m}") end, 5_000, "master closed")
      wait_until(fn -> not File.exists?("/proc/self/fd/#{s}") end, 5_000, "slave closed")
    end
  end

  describe "save/1, set_raw/1, restore/2" do
    test "save reads exactly what stty -g reads", %{pty: pty} do
      {:ok, saved} = Tty.save(pty.slave)
      assert byte_size(saved.termios) == 60
      assert decode(saved) == stty_g(pty.path)
      # After stty changes something, save sees that too.
      stty!(pty.path, ["-echo", "intr", "^X"])
      {:ok, saved2} = Tty.save(pty.slave)
      assert decode(saved2) == stty_g(pty.path)
      assert decode(saved2) != decode(saved)
    end

    test "raw mode really changes the line discipline, and restore puts it all back",
         %{pty: pty} do
      before_g = stty!(pty.path, ["-g"])
      before = stty_g(pty.path)
      {:ok, saved} = Tty.set_raw(pty.slave)
      # What set_raw returns is the state before it.
      assert decode(saved) == before
      words = stty_words(pty.path)

      # cfmakeraw(3): everything a raw terminal must not do, off.
      for w <- ~w(-icanon -echo -isig -iexten -opost -icrnl -ixon -brkint -istrip -inlcr
                  -igncr -parenb cs8 -echonl min 1 time 0) do
        assert w in words,
               "expected #{w} in stty -a after set_raw: #{inspect(MapSet.to_list(words))}"
      end

      assert inspect(saved) == "#Linx.Tty.Saved<isig icanon echo opost>"
      {:ok, now} = Tty.save(pty.slave)
      assert inspect(now) == "#Linx.Tty.Saved<-isig -icanon -echo -opost>"

      # The line discipline behaves raw: input is not echoed and Ctrl-C is a byte.
      {:ok, relay} = Tty.Relay.open(pty.master)
      :ok = Tty.Relay.write(relay, "ab\x03")
      {:ok, slave_relay} = Tty.Relay.open(pty.slave)
      assert read_until(slave_relay, "ab\x03") == "ab\x03"
      master_id = relay.id
      refute_receive {:linx_tty, ^master_id, {:data, _}}, 200
      Tty.Relay.close(slave_relay)
      Tty.Relay.close(relay)

      assert :ok = Tty.restore(pty.slave, saved)
      assert stty!(pty.path, ["-g"]) == before_g
    end

    test "a save/restore round trip over stty's changes is exact", %{pty: pty} do
      {:ok, saved} = Tty.save(pty.slave)
      before_g = stty!(pty.path, ["-g"])
      stty!(pty.path, ["raw", "-echo", "erase", "^H", "cols", "33"])
      refute stty!(pty.path, ["-g"]) == before_g
      assert :ok = Tty.restore(pty.slave, saved)
      assert stty!(pty.path, ["-g"]) == before_g
    end

    test "the master sees the same attributes (they belong to the pair)", %{pty: pty} do
      {:ok, _} = Tty.set_raw(pty.slave)
      {:ok, via_master} = Tty.save(pty.master)
      assert decode(via_master) == stty_g(pty.path)
    end

    test "non-terminals and closed descriptors are errors naming the operation" do
      {sock, fd} = socket_fd()
      assert {:error, %Error{operation: :tcgetattr, errno: :enotty, code: 25}} = Tty.save(fd)
      assert {:error, %Error{operation: :tcgetattr, errno: :enotty}} = Tty.set_raw(fd)

      assert {:error, %Error{operation: :tcsetattr, errno: :enotty}} =
               Tty.restore(fd, %Saved{termios: :binary.copy(<<0>>, 60)})

      :socket.close(sock)
      assert {:error, %Error{operation: :tcgetattr, errno: :ebadf}} = Tty.save(99_999)
    end

    test "bad arguments raise ArgumentError naming the value", %{pty: pty} do
      for bad <- [-1, "3", 3.0, nil, 0x80000000] do
        assert_raise ArgumentError, ~r/file descriptor.*#{Regex.escape(inspect(bad))}/, fn ->
          Tty.save(bad)
        end
      end

      assert_raise ArgumentError, ~r/Linx.Tty.Saved.*:nope/, fn ->
        Tty.restore(pty.slave, :nope)
      end

      assert_raise ArgumentError, ~r/not a struct termios \(3 bytes\)/, fn ->
        Tty.restore(pty.slave, %Saved{termios: "abc"})
      end

      assert_raise ArgumentError, ~r/not a struct termios \(61 bytes\)/, fn ->
        Tty.restore_and_close(pty.slave, %Saved{termios: :binary.copy(<<0>>, 61)})
      end
    end
  end

  describe "window_size/1 and set_window_size/2" do
    test "set is what stty size reads, and stty's changes are what get reads", %{pty: pty} do
      ws = %WindowSize{rows: 31, cols: 101, xpixel: 640, ypixel: 480}
      assert :ok = Tty.set_window_size(pty.slave, ws)
      assert stty_size(pty.path) == {31, 101}
      assert {:ok, ^ws} = Tty.window_size(pty.master)
      assert inspect(ws) == "#Linx.Tty.WindowSize<101x31 640x480px>"

      stty!(pty.path, ["rows", "50", "cols", "132"])
      assert {:ok, %WindowSize{rows: 50, cols: 132}} = Tty.window_size(pty.slave)

      assert inspect(%WindowSize{rows: 50, cols: 132, xpixel: 0, ypixel: 0}) ==
               "#Linx.Tty.WindowSize<132x50>"
    end

    test "the full 16-bit range fits, one more is EINVAL as in 0.2", %{pty: pty} do
      max = %WindowSize{rows: 65_535, cols: 65_535, xpixel: 65_535, ypixel: 65_535}
      assert :ok = Tty.set_window_size(pty.slave, max)
      assert {:ok, ^max} = Tty.window_size(pty.slave)

      assert {:error, %Error{operation: :ioctl, errno: :einval}} =
               Tty.set_window_size(pty.slave, %{max | cols: 65_536})

      # Nothing was changed by the refused call.
      assert {:ok, ^max} = Tty.window_size(pty.slave)
    end

    test "errors: not a terminal, not open" do
      {sock, fd} = socket_fd()
      assert {:error, %Error{operation: :ioctl, errno: :enotty}} = Tty.window_size(fd)

      assert {:error, %Error{operation: :ioctl, errno: :enotty}} =
               Tty.set_window_size(fd, %WindowSize{rows: 1, cols: 1, xpixel: 0, ypixel: 0})

      :socket.close(sock)
      assert {:error, %Error{operation: :ioctl, errno: :ebadf, code: 9}} = Tty.window_size(99_999)
    end

    test "bad arguments raise ArgumentError naming the value", %{pty: pty} do
      assert_raise ArgumentError, ~r/WindowSize.*\{24, 80\}/, fn ->
        Tty.set_window_size(pty.slave, {24, 80})
      end

      assert_raise ArgumentError, ~r/non-negative integers.*rows: -1/, fn ->
        Tty.set_window_size(pty.slave, %WindowSize{rows: -1, cols: 80, xpixel: 0, ypixel: 0})
      end

      assert_raise ArgumentError, ~r/non-negative integers.*cols: "80"/, fn ->
        Tty.set_window_size(pty.slave, %WindowSize{rows: 1, cols: "80", xpixel: 0, ypixel: 0})
      end

      assert_raise ArgumentError, ~r/file descriptor.*:stdin/, fn -> Tty.window_size(:stdin) end
    end
  end

  describe "open_controlling_raw/0 and restore_and_close/2" do
    test "without a controlling terminal it is :open / :enxio" do
      # This test BEAM runs without a controlling terminal (checked with the kernel's own
      # answer: opening /dev/tty fails with ENXIO); tmux_test.exs covers the real one.
      case File.open("/dev/tty") do
        {:error, :enxio} ->
          assert {:error, %Error{operation: :open, errno: :enxio, code: 6} = e} =
                   Tty.open_controlling_raw()

          assert Exception.message(e) == "tty open failed: enxio (errno 6)"

        {:ok, f} ->
          File.close(f)
          assert {:ok, fd, %Saved{}} = Tty.open_controlling_raw() |> tap(&cleanup/1)
          assert is_integer(fd)
      end
    end

    test "a saved state with a handle restores its own terminal once, then is a no-op",
         %{pty: pty} do
      before_g = stty!(pty.path, ["-g"])
      {:ok, handle, fd, termios} = Native.open_fd_raw(pty.slave)
      saved = %Saved{termios: termios, handle: handle}
      assert fd != pty.slave
      assert "-icanon" in stty_words(pty.path)
      assert :ok = Tty.restore_and_close(fd, saved)
      assert stty!(pty.path, ["-g"]) == before_g
      refute File.exists?("/proc/self/fd/#{fd}")
      assert Native.handle_fd(handle) == nil
      # Idempotent, and the (possibly reused) number is not touched again.
      {:ok, other} = Tty.open_pty()
      assert :ok = Tty.restore_and_close(fd, saved)
      assert File.exists?("/proc/self/fd/#{other.master}")
      Tty.close_pty(other)
    end

    test "a saved state without a handle restores and closes the given fd (0.2's contract)",
         %{pty: pty} do
      before_g = stty!(pty.path, ["-g"])
      # A descriptor no Linx resource owns, as 0.2 handed out.
      {:ok, fd} = Native.dup_fd(pty.slave)
      {:ok, saved} = Tty.set_raw(fd)
      assert "-icanon" in stty_words(pty.path)
      assert :ok = Tty.restore_and_close(fd, %Saved{termios: saved.termios})
      assert stty!(pty.path, ["-g"]) == before_g
      refute File.exists?("/proc/self/fd/#{fd}")
      # EBADF from both steps counts as done.
      assert :ok = Tty.restore_and_close(99_999, saved)
    end

    test "a bare number that a Linx resource owns is restored but not closed", %{pty: pty} do
      before_g = stty!(pty.path, ["-g"])
      {:ok, saved} = Tty.set_raw(pty.slave)
      assert :ok = Tty.restore_and_close(pty.slave, saved)
      assert stty!(pty.path, ["-g"]) == before_g
      # Still open: the pty's resource closes it (close_pty/1 or garbage collection).
      assert File.exists?("/proc/self/fd/#{pty.slave}")
      assert {:ok, _} = Tty.window_size(pty.slave)
    end

    test "a terminal left raw by a process that died is restored by garbage collection",
         %{pty: pty} do
      before_g = stty!(pty.path, ["-g"])
      parent = self()

      pid =
        spawn(fn ->
          {:ok, _handle, fd, _termios} = Native.open_fd_raw(pty.slave)
          send(parent, {:raw, fd})
          Process.sleep(:infinity)
        end)

      assert_receive {:raw, fd}
      assert "-icanon" in stty_words(pty.path)
      Process.exit(pid, :kill)
      wait_until(fn -> stty!(pty.path, ["-g"]) == before_g end, 5_000, "restore on GC")
      wait_until(fn -> not File.exists?("/proc/self/fd/#{fd}") end, 5_000, "close on GC")
    end
  end

  describe "terminal identity" do
    test "same_terminal/2 sees a pty's two sides and re-opened copies as one terminal",
         %{pty: pty} do
      assert Native.same_terminal(pty.master, pty.slave)
      {:ok, handle, copy, termios} = Native.open_fd_raw(pty.slave)
      assert Native.same_terminal(copy, pty.slave)
      {:ok, other} = Tty.open_pty()
      refute Native.same_terminal(other.slave, pty.slave)
      {sock, fd} = socket_fd()
      refute Native.same_terminal(fd, pty.slave)
      refute Native.same_terminal(99_999, pty.slave)
      :socket.close(sock)
      Tty.close_pty(other)
      :ok = Tty.restore_and_close(copy, %Saved{termios: termios, handle: handle})
    end
  end

  describe "Error and format_error/1" do
    test "from_nif accepts numbers and names" do
      assert %Error{operation: :ioctl, errno: :enotty, code: 25} = Error.from_nif(:ioctl, 25)
      assert %Error{operation: :open, errno: :enxio, code: 6} = Error.from_nif(:open, :enxio)
      assert %Error{errno: :unknown, code: 4242} = e = Error.from_nif(:close, 4242)
      assert Exception.message(e) == "tty close failed: errno 4242"
      assert %Error{errno: :eof, code: nil} = e = Error.from_nif(:terminal, :eof)
      assert Exception.message(e) == "tty terminal failed: the terminal hung up"
    end

    test "format_error explains attach's atoms and falls back to inspect" do
      assert Tty.format_error(:no_local_tty) =~ ":group_leader"
      assert Tty.format_error(:no_process) =~ "Linx.Process.info/1"
      assert Tty.format_error(:no_pty) =~ "stdio: :pty"
      assert Tty.format_error(Error.from_nif(:open, 6)) == "tty open failed: enxio (errno 6)"
      assert Tty.format_error({:weird, 1}) == "{:weird, 1}"
    end

    test "every operation the NIF names is a known stage" do
      for op <- [:open, :tcgetattr, :tcsetattr, :ioctl, :close, :posix_openpt, :unlockpt, :thread] do
        assert op in Tty.__error_stages__()
      end
    end
  end

  defp cleanup({:ok, fd, saved}), do: Tty.restore_and_close(fd, saved)
  defp cleanup(_), do: :ok
end
