Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.StdioTest do
  # stdio modes: inherit, devnull, pipe (with stdin writes), connect_unix, pty.
  use ExUnit.Case, async: true

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP

  test "the workload's fds: only 0, 1, 2, nothing of the agent's" do
    out = run!(["/bin/sh", "-c", "ls /proc/self/fd"], stdio: :pipe)
    # ls itself opens one directory fd (3) to list /proc/self/fd.
    assert out.stdout |> String.split() |> Enum.sort() == ["0", "1", "2", "3"]
  end

  test ":devnull points fds at /dev/null; :inherit leaves the BEAM's" do
    # fd 3 keeps the original stdout while readlink's own stdout goes to stderr.
    script = "readlink /proc/self/fd/0 /proc/self/fd/3 /proc/self/fd/2 3>&1 >&2"

    out =
      run!(["/bin/sh", "-c", script],
        stdio: [stdin: :devnull, stdout: :inherit, stderr: :pipe]
      )

    beam_stdout = File.read_link!("/proc/self/fd/1")
    assert [stdin, ^beam_stdout, stderr] = String.split(out.stderr, "\n", trim: true)
    assert stdin == "/dev/null"
    assert stderr =~ ~r/^pipe:/
    assert out.terminal == {:linx_process, :exited, 0}

    out = run!(["/bin/sh", "-c", script <> "; echo $? > /dev/null"], stdio: :devnull)
    assert out.stdout == "" and out.stderr == ""
    assert out.terminal == {:linx_process, :exited, 0}
  end

  test "pipes: stdout and stderr are relayed separately, before the terminal event" do
    out = run!(["/bin/sh", "-c", "echo one; echo two >&2; head -c 200000 /dev/zero; exit 3"])
    assert out.stderr == "two\n"
    assert byte_size(out.stdout) == 4 + 200_000
    assert out.terminal == {:linx_process, :exited, 3}
  end

  test "stdin_write delivers bytes whole and in order; stdin_close gives end of file" do
    {:ok, s} = LP.spawn(argv: ["/usr/bin/sha256sum"], stdio: :pipe)
    _ = await_ready()
    assert LP.stdin_write(s, "early") == {:error, :not_running}
    assert LP.stdin_close(s) == {:error, :not_running}
    :ok = LP.proceed(s)
    await_running()

    data = :crypto.strong_rand_bytes(3 * 1024 * 1024)
    for <<part::binary-size(512 * 1024) <- data>>, do: assert(:ok = LP.stdin_write(s, [part]))
    assert :ok = LP.stdin_write(s, "")
    assert :ok = LP.stdin_close(s)
    assert :ok = LP.stdin_close(s)
    assert LP.stdin_write(s, "late") == {:error, :closed}
    out = collect(10_000)
    assert out.stdout == Base.encode16(:crypto.hash(:sha256, data), case: :lower) <> "  -\n"
    assert out.terminal == {:linx_process, :exited, 0}
    assert LP.stdin_write(s, "x") == {:error, :no_process}
  end

  test "stdin of a workload that does not read: writes are kept, the session answers" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], stdio: [stdin: :pipe], auto_proceed: true)
    _ = await_ready()
    await_running()
    # Far more than a pipe holds: the session keeps it queued and stays responsive.
    assert :ok = LP.stdin_write(s, :binary.copy("x", 2 * 1024 * 1024))
    assert {:ok, %LP.Info{stage: :running}} = LP.info(s)
    assert :ok = LP.signal(s, 9)
    assert {:ok, {:signaled, 9}} = LP.wait(s)
  end

  test "connect_unix: the agent connects on the host before the clone" do
    path = Path.join(System.tmp_dir!(), "linx-cu-#{System.unique_integer([:positive])}.sock")
    on_exit(fn -> File.rm(path) end)
    {:ok, listen} = :gen_tcp.listen(0, [:binary, ifaddr: {:local, path}, active: false])

    {:ok, s} =
      LP.spawn(
        argv: ["/bin/sh", "-c", "read line; echo got:$line; echo err >&2"],
        stdio: [stdin: {:connect_unix, path}, stdout: {:connect_unix, path}, stderr: :pipe]
      )

    # Both connections exist before :ready (in the order stdin, stdout).
    {:ok, stdin_conn} = :gen_tcp.accept(listen, 5_000)
    {:ok, stdout_conn} = :gen_tcp.accept(listen, 5_000)
    _ = await_ready()
    :ok = LP.proceed(s)
    :ok = :gen_tcp.send(stdin_conn, "hello\n")
    assert {:ok, "got:hello\n"} = :gen_tcp.recv(stdout_conn, 0, 5_000)
    out = collect()
    assert out.stderr == "err\n"
    assert out.terminal == {:linx_process, :exited, 0}
  end

  test "connect_unix failures are reported as :connect_unix, before any :ready" do
    missing =
      Path.join(System.tmp_dir!(), "linx-cu-missing-#{System.unique_integer([:positive])}")

    {:ok, s} = LP.spawn(argv: ["/bin/true"], stdio: [stdout: {:connect_unix, missing}])
    assert_receive {:linx_process, :error, 2, :connect_unix}, 5_000
    refute_received {:linx_process, :ready, _}
    assert {:error, %LP.Error{stage: :connect_unix, errno: :enoent}} = LP.wait(s)

    long = "/tmp/" <> String.duplicate("x", 120)
    {:ok, _} = LP.spawn(argv: ["/bin/true"], stdio: [stdout: {:connect_unix, long}])
    assert_receive {:linx_process, :error, 36, :connect_unix}, 5_000
  end

  describe "pty" do
    test "the workload gets a controlling terminal, as session leader; output is cooked" do
      {:ok, s} =
        LP.spawn(
          argv: [
            "/bin/sh",
            "-c",
            "tty; cut -d' ' -f6 /proc/$$/stat; echo $$; test -t 0 && echo tty0"
          ],
          stdio: :pty,
          auto_proceed: true
        )

      assert {:ok, ^s} = LP.pty_master(s)
      out = collect()
      [tty, sid, pid, "tty0"] = String.split(out.pty_out, "\r\n", trim: true)
      assert tty =~ ~r{^/dev/pts/\d+$}
      assert String.trim(sid) == pid
      assert out.terminal == {:linx_process, :exited, 0}
      assert {:ok, %LP.Info{pty?: true} = info} = LP.info(s)
      assert inspect(info) =~ ~r/ pty>$/
    end

    test "window size: set at the checkpoint, then changed while running (SIGWINCH)" do
      script = """
      trap 'stty size' WINCH
      stty size
      echo ready
      while :; do sleep 0.01; done
      """

      {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", script], stdio: :pty)
      assert LP.pty_set_winsize(s, {1, 1, 0, 0}) in [:ok, {:error, :not_ready}]
      _ = await_ready()
      assert :ok = LP.pty_set_winsize(s, {24, 80, 0, 0})
      :ok = LP.proceed(s)
      assert await_output("ready\r\n") =~ "24 80\r\n"
      assert :ok = LP.pty_set_winsize(s, %{rows: 50, cols: 132, xpixel: 0, ypixel: 0, extra: 1})
      assert await_output("50 132\r\n")
      :ok = LP.signal(s, 9)
      assert {:ok, {:signaled, 9}} = LP.wait(s)
      assert LP.pty_set_winsize(s, {1, 1, 0, 0}) == {:error, :no_process}
    end

    test "a write before :running is refused; the parked child is unharmed" do
      {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", "echo alive"], stdio: :pty)
      _ = await_ready()
      assert LP.pty_write(s, "too early") == {:error, :not_running}
      :ok = LP.proceed(s)
      out = collect()
      assert out.pty_out == "alive\r\n"
      assert out.terminal == {:linx_process, :exited, 0}
      assert LP.pty_write(s, "late") == {:error, :no_process}
    end

    test "a 1 MiB write arrives whole and in order" do
      # Raw mode without echo: the line discipline passes every byte through unchanged.
      script = "stty raw -echo; echo READY; head -c 1048576 | sha256sum"
      {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", script], stdio: :pty, auto_proceed: true)
      _ = await_output("READY")
      data = :crypto.strong_rand_bytes(1_048_576)
      assert :ok = LP.pty_write(s, data)
      out = collect(20_000)
      assert out.pty_out =~ Base.encode16(:crypto.hash(:sha256, data), case: :lower)
      assert out.terminal == {:linx_process, :exited, 0}
    end

    test "cooked input: lines are read, and ^D is end of file" do
      {:ok, s} = LP.spawn(argv: ["/bin/cat"], stdio: :pty, auto_proceed: true)
      _ = await_ready()
      await_running()
      :ok = LP.pty_write(s, ["hello", ?\n, <<4>>])
      out = collect()
      # The terminal echoes the input, then cat prints the line back.
      assert out.pty_out == "hello\r\nhello\r\n"
      assert out.terminal == {:linx_process, :exited, 0}
    end
  end

  # Accumulates :pty_out until `marker` shows up; returns everything so far.
  defp await_output(marker, acc \\ "") do
    if String.contains?(acc, marker) do
      acc
    else
      receive do
        {:linx_process, :pty_out, bytes} -> await_output(marker, acc <> bytes)
        {:linx_process, :ready, _} -> await_output(marker, acc)
        {:linx_process, :running} -> await_output(marker, acc)
      after
        5_000 -> flunk("no #{inspect(marker)} in pty output #{inspect(acc)}")
      end
    end
  end
end
