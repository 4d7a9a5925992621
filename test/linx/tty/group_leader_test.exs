Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Tty.GroupLeaderTest do
  # attach(:group_leader, ...) through the Erlang I/O protocol, against a small I/O
  # server written here (the part of `:group`/`ssh_cli` that attach uses: get_chars,
  # put_chars in the server's encoding, getopts/setopts, window geometry, Ctrl-C as an
  # interrupted read or as an exit signal), with a real Linx.Process pty session.
  use ExUnit.Case, async: true

  @moduletag capture_log: true

  alias Linx.Tty
  alias Linx.Tty.GroupLeader

  defmodule FakeIO do
    @moduledoc false
    # An I/O server that reports everything to `test` and takes input from it.

    def start(test, opts) do
      state = %{
        test: test,
        input: "",
        pending: nil,
        eof: false,
        opts: [
          echo: true,
          binary: Keyword.get(opts, :binary, false),
          encoding: Keyword.get(opts, :encoding, :unicode)
        ],
        rows: Keyword.get(opts, :rows, 24),
        cols: Keyword.get(opts, :cols, 80)
      }

      spawn(fn -> loop(state) end)
    end

    defp loop(st) do
      receive do
        {:io_request, from, ra, req} ->
          loop(request(st, from, ra, req))

        {:type, bytes} ->
          loop(serve(%{st | input: st.input <> bytes}))

        :eof ->
          loop(serve(%{st | eof: true}))

        {:fail_read, why} ->
          {from, ra, _n} = st.pending
          reply(from, ra, {:error, why})
          loop(%{st | pending: nil})

        :interrupt_read ->
          {from, ra, _n} = st.pending
          reply(from, ra, {:error, :interrupted})
          loop(%{st | pending: nil})

        {:interrupt_process, pid} ->
          Process.exit(pid, :interrupt)
          loop(st)

        {:resize, rows, cols} ->
          loop(%{st | rows: rows, cols: cols})
      end
    end

    defp request(st, from, ra, {:get_chars, _enc, _prompt, n}),
      do: serve(%{st | pending: {from, ra, n}})

    defp request(st, from, ra, {:put_chars, enc, chars}) do
      case to_binary(enc, chars) do
        {:ok, bin} ->
          send(st.test, {:gl_out, self(), bin})
          reply(from, ra, :ok)

        :error ->
          send(st.test, {:gl_bad_put, self(), enc, chars})
          reply(from, ra, {:error, :put_chars})
      end

      st
    end

    defp request(st, from, ra, {:get_geometry, :rows}),
      do: tap(st, fn _ -> reply(from, ra, st.rows) end)

    defp request(st, from, ra, {:get_geometry, :columns}),
      do: tap(st, fn _ -> reply(from, ra, st.cols) end)

    defp request(st, from, ra, :getopts), do: tap(st, fn _ -> reply(from, ra, st.opts) end)

    defp request(st, from, ra, {:setopts, opts}) do
      send(st.test, {:gl_setopts, self(), opts})
      reply(from, ra, :ok)
      %{st | opts: Keyword.merge(st.opts, opts)}
    end

    defp request(st, from, ra, _other),
      do: tap(st, fn _ -> reply(from, ra, {:error, :request}) end)

    defp to_binary(:unicode, chars) do
      case :unicode.characters_to_binary(chars) do
        bin when is_binary(bin) -> {:ok, bin}
        _ -> :error
      end
    end

    defp to_binary(:latin1, chars), do: {:ok, :erlang.iolist_to_binary(chars)}

    # Answers a pending get_chars when there is input (or end of file).
    defp serve(%{pending: {from, ra, n}, input: input} = st) when input != "" do
      {chunk, rest} = take(input, n, st.opts[:encoding])
      data = if st.opts[:binary], do: chunk, else: to_list(chunk, st.opts[:encoding])
      reply(from, ra, data)
      %{st | pending: nil, input: rest}
    end

    defp serve(%{pending: {from, ra, _}, eof: true} = st) do
      reply(from, ra, :eof)
      %{st | pending: nil}
    end

    defp serve(st), do: st

    defp take(input, n, :unicode), do: String.split_at(input, n)

    defp take(input, n, :latin1),
      do: {binary_part(input, 0, n), binary_part(input, n, byte_size(input) - n)}

    defp to_list(chunk, :unicode), do: String.to_charlist(chunk)
    defp to_list(chunk, :latin1), do: :binary.bin_to_list(chunk)

    defp reply(from, ra, reply), do: send(from, {:io_reply, ra, reply})
  end

  # Attaches `argv` (spawned with a pty) through the fake I/O server `io`; the result
  # comes back as {:attached, pid, result}.
  defp start_attached(io, argv, opts \\ []) do
    parent = self()

    pid =
      spawn(fn ->
        Process.group_leader(self(), io)
        {:ok, s} = Linx.Process.spawn(argv: argv, stdio: :pty, auto_proceed: true)
        send(parent, {:session, self(), s})
        send(parent, {:attached, self(), Tty.attach(:group_leader, s, opts)})
        receive do: (:stop -> :ok)
      end)

    assert_receive {:session, ^pid, s}, 5_000
    on_exit(fn -> stop(pid) end)
    {pid, s}
  end

  defp ask_until(io, keys, text, tries \\ 25) do
    send(io, {:type, keys})
    screen_until(io, text, "", 400)
  rescue
    e in ExUnit.AssertionError ->
      if tries > 1, do: ask_until(io, keys, text, tries - 1), else: reraise(e, __STACKTRACE__)
  end

  defp screen_until(io, pattern, acc \\ "", timeout \\ 5_000) do
    if String.contains?(acc, pattern) do
      acc
    else
      receive do
        {:gl_out, ^io, bin} -> screen_until(io, pattern, acc <> bin, timeout)
        {:gl_bad_put, ^io, enc, chars} -> flunk("invalid put_chars #{enc}: #{inspect(chars)}")
      after
        timeout ->
          flunk("timed out waiting for #{inspect(pattern)}; screen showed #{inspect(acc)}")
      end
    end
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

  defp result(pid) do
    assert_receive {:attached, ^pid, result}, 10_000
    result
  end

  test "keys in, output out; echo off and list mode only while attached" do
    io = FakeIO.start(self(), binary: true)

    {pid, _s} =
      start_attached(io, ["/bin/sh", "-c", ~S(echo ready; read l; echo "got[$l]"; exit 4)])

    assert_receive {:gl_setopts, ^io, [echo: false]}
    assert_receive {:gl_setopts, ^io, [binary: false]}
    screen_until(io, "ready")
    send(io, {:type, "hi there\r"})
    screen_until(io, "got[hi there]")
    assert result(pid) == {:ok, {:exited, 4}}
    # What was changed is put back, key by key.
    assert_receive {:gl_setopts, ^io, [echo: true]}
    assert_receive {:gl_setopts, ^io, [binary: true]}
  end

  test "the window size is seeded from the I/O server and polled" do
    io = FakeIO.start(self(), rows: 30, cols: 100)

    {pid, _s} =
      start_attached(io, ["/bin/sh", "-c", "echo ready; while read l; do stty size; done"],
        winsize_poll_ms: 20
      )

    screen_until(io, "ready")
    send(io, {:type, "\r"})
    screen_until(io, "30 100")
    send(io, {:resize, 40, 120})
    # The next poll (every 20 ms) carries it over; ask until it has.
    ask_until(io, "\r", "40 120")
    send(io, {:type, "\x04"})
    assert result(pid) == {:ok, {:exited, 0}}
  end

  test "Ctrl-C taken by the server as an interrupted read becomes byte 3" do
    io = FakeIO.start(self(), [])
    {pid, _s} = start_attached(io, ["/bin/sh", "-c", "echo ready; exec sleep 100"])
    screen_until(io, "ready")
    Process.sleep(50)
    send(io, :interrupt_read)
    assert result(pid) == {:ok, {:signaled, 2}}
  end

  test "Ctrl-C arriving as an interrupt exit signal becomes byte 3 too" do
    io = FakeIO.start(self(), [])
    {pid, _s} = start_attached(io, ["/bin/sh", "-c", "echo ready; exec sleep 100"])
    screen_until(io, "ready")
    send(io, {:interrupt_process, pid})
    assert result(pid) == {:ok, {:signaled, 2}}
  end

  test "end of input and read errors end the attach" do
    io = FakeIO.start(self(), [])
    {pid, s} = start_attached(io, ["/bin/sh", "-c", "echo ready; exec sleep 100"])
    screen_until(io, "ready")
    Process.sleep(50)
    send(io, :eof)
    assert result(pid) == {:error, :gl_eof}
    assert {:ok, %{stage: :running}} = Linx.Process.info(s)

    io = FakeIO.start(self(), [])
    {pid, _s} = start_attached(io, ["/bin/sh", "-c", "echo ready; exec sleep 100"])
    screen_until(io, "ready")
    Process.sleep(50)
    send(io, {:fail_read, :boom})
    assert result(pid) == {:error, {:gl_reader, :boom}}
  end

  test "a unicode server gets valid UTF-8: split sequences joined, invalid bytes replaced" do
    io = FakeIO.start(self(), [])
    script = ~S"printf 'ready\n'; printf '\342\234'; sleep 0.3; printf '\223 \377 end\n'"
    {pid, _s} = start_attached(io, ["/bin/sh", "-c", script])
    out = screen_until(io, "end")
    assert out =~ "✓ \uFFFD end"
    assert result(pid) == {:ok, {:exited, 0}}
  end

  test "a latin1 server (in binary mode) gets the bytes as they are" do
    io = FakeIO.start(self(), encoding: :latin1, binary: true)
    script = ~S(printf 'ready \377\342 end\n'; read l; printf '[%s]\n' "$l")
    {pid, _s} = start_attached(io, ["/bin/sh", "-c", script])
    assert screen_until(io, "end") =~ <<"ready ", 0xFF, 0xE2, " end">>
    send(io, {:type, <<"k", 0xE9, "\r">>})
    assert screen_until(io, "]") =~ <<"[k", 0xE9, "]">>
    assert result(pid) == {:ok, {:exited, 0}}
  end

  test "detaching works here too" do
    io = FakeIO.start(self(), [])
    {pid, s} = start_attached(io, ["/bin/sh", "-c", "echo ready; exec cat"])
    screen_until(io, "ready")
    send(io, {:type, <<16, 17>>})
    assert result(pid) == {:ok, :detached}
    assert_receive {:gl_setopts, ^io, [echo: true]}
    :ok = Linx.Process.signal(s, 9)
  end

  test "utf8_split/1" do
    assert GroupLeader.utf8_split("abc") == {"abc", ""}
    assert GroupLeader.utf8_split(<<"a", 0xE2, 0x9C>>) == {"a", <<0xE2, 0x9C>>}
    assert GroupLeader.utf8_split(<<0xE2, 0x9C, 0x93>>) == {"✓", ""}
    assert GroupLeader.utf8_split(<<"x", 0xFF, "y">>) == {"x\uFFFDy", ""}
    assert GroupLeader.utf8_split(<<0xC3, 0x41>>) == {"\uFFFDA", ""}
    assert GroupLeader.utf8_split(<<>>) == {"", ""}
  end
end
