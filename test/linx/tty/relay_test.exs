Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Tty.RelayTest do
  # Linx.Tty.Relay on real ptys: the master is the "emulator" side, the slave the
  # "program" side; each side gets its own relay.
  use ExUnit.Case, async: true

  import Linx.Tty.TestHelpers

  alias Linx.Tty
  alias Linx.Tty.{Error, Relay, WindowSize}

  setup do
    {:ok, pty} = Tty.open_pty()
    on_exit(fn -> Tty.close_pty(pty) end)
    %{pty: pty}
  end

  test "bytes written on one side are read on the other, in order", %{pty: pty} do
    {:ok, emulator} = Relay.open(pty.master)
    {:ok, program} = Relay.open(pty.slave)
    assert inspect(emulator) == "#Linx.Tty.Relay<#{emulator.id} fd=#{pty.master}>"
    {:ok, _} = Tty.set_raw(pty.slave)

    payload = for i <- 1..2000, into: "", do: "#{i},"
    :ok = Relay.write(emulator, [payload, "END"])
    assert read_until(program, "END") == payload <> "END"

    :ok = Relay.write(program, "back")
    assert read_until(emulator, "back") == "back"
    :ok = Relay.close(emulator)
    :ok = Relay.close(program)
    assert Relay.write(emulator, "late") == {:error, :closed}
    # Idempotent.
    :ok = Relay.close(emulator)
  end

  test "cooked mode is the terminal's business: the relay moves bytes as they are",
       %{pty: pty} do
    {:ok, emulator} = Relay.open(pty.master)
    {:ok, program} = Relay.open(pty.slave)
    :ok = Relay.write(emulator, "line\r")
    # Echoed by the slave's line discipline (CR shown as CR LF), delivered as a line.
    assert read_until(emulator, "line\r\n") == "line\r\n"
    assert read_until(program, "line\n") == "line\n"
    Relay.close(emulator)
    Relay.close(program)
  end

  test "a big write waits in the queue and drains as the other side reads", %{pty: pty} do
    {:ok, _} = Tty.set_raw(pty.slave)
    {:ok, program} = Relay.open(pty.slave)
    big = :binary.copy("0123456789", 50_000)
    :ok = Relay.write(program, big)
    # A pty holds a few KiB; the rest is queued.
    assert Relay.pending(program) > 0
    {:ok, emulator} = Relay.open(pty.master)
    got = read_until(emulator, big, 20_000)
    assert got == big
    wait_until(fn -> Relay.pending(program) == 0 end)
    Relay.close(program)
    Relay.close(emulator)
  end

  test "window size changes are reported when polled", %{pty: pty} do
    {:ok, relay} = Relay.open(pty.slave, winsize_poll_ms: 20)
    id = relay.id
    refute_receive {:linx_tty, ^id, {:winsize, _}}, 100
    :ok = Tty.set_window_size(pty.master, %WindowSize{rows: 5, cols: 6, xpixel: 0, ypixel: 0})
    assert_receive {:linx_tty, ^id, {:winsize, {5, 6, 0, 0}}}, 2_000
    Relay.close(relay)
  end

  test "a hangup is reported once and stops the relay", %{pty: pty} do
    {:ok, relay} = Relay.open(pty.master)
    id = relay.id
    :ok = Tty.close_pty(pty)
    # The relay's own copy of the master remains, and the slave is gone: EIO.
    assert_receive {:linx_tty, ^id, {:closed, reason}}, 2_000
    assert reason in [:eof, 5]
    assert Relay.write(relay, "x") == {:error, :closed}
    refute_receive {:linx_tty, ^id, _}, 100
  end

  test "a write-only relay leaves input to others; :owner sends events elsewhere",
       %{pty: pty} do
    parent = self()
    owner = spawn(fn -> receive do: (m -> send(parent, {:owner_got, m})) end)
    {:ok, _} = Tty.set_raw(pty.slave)
    {:ok, writer} = Relay.open(pty.slave, read: false)
    {:ok, reader} = Relay.open(pty.slave, owner: owner)
    {:ok, emulator} = Relay.open(pty.master)
    :ok = Relay.write(emulator, "k")
    assert_receive {:owner_got, {:linx_tty, rid, {:data, "k"}}}, 2_000
    assert rid == reader.id
    wid = writer.id
    refute_receive {:linx_tty, ^wid, _}, 100
    :ok = Relay.write(writer, "out")
    assert read_until(emulator, "out") == "out"
    Enum.each([writer, reader, emulator], &Relay.close/1)
  end

  test "the relay stops when its owner exits", %{pty: pty} do
    parent = self()

    pid =
      spawn(fn ->
        {:ok, relay} = Relay.open(pty.slave)
        send(parent, {:relay, relay})
        receive do: (:exit -> :ok)
      end)

    assert_receive {:relay, relay}
    send(pid, :exit)
    {:ok, emulator} = Relay.open(pty.master)
    # Input for a gone owner makes the relay notice and stop (a whole line: the slave
    # is cooked). The struct held here keeps the resource itself alive.
    :ok = Relay.write(emulator, "x\r")
    wait_until(fn -> Relay.write(relay, "y") == {:error, :closed} end)
    Relay.close(emulator)
  end

  test "errors and bad arguments" do
    assert {:error, %Error{operation: :open, errno: :ebadf}} = Relay.open(99_999)

    assert_raise ArgumentError, ~r/bad option \{:winsize_poll_ms, -1\}/, fn ->
      Relay.open(0, winsize_poll_ms: -1)
    end

    assert_raise ArgumentError, ~r/bad option \{:owner, :me\}/, fn ->
      Relay.open(0, owner: :me)
    end

    assert_raise ArgumentError, ~r/keyword list.*"x"/, fn -> Relay.open(0, "x") end
    assert_raise ArgumentError, ~r/file descriptor.*nil/, fn -> Relay.open(nil) end
  end
end
