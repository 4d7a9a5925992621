Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.LifecycleTest do
  # The checkpoint state machine, verbs and owner events, unprivileged workloads only.
  use ExUnit.Case, async: true

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP
  alias Linx.Process.{Error, Info}

  test "the workload starts with default signal handling: nothing ignored, nothing blocked" do
    # The agent ignores SIGPIPE (Rust's runtime does) and the BEAM may pass a mask down;
    # neither may reach the workload. /proc/self/status of the exec'd program tells.
    %{stdout: out, terminal: {:linx_process, :exited, 0}} =
      run!(["/bin/cat", "/proc/self/status"])

    status =
      Map.new(
        for [k, v] <- Regex.scan(~r/^(Sig\w+):\s+([0-9a-f]+)$/m, out, capture: :all_but_first),
            do: {k, v}
      )

    assert status["SigIgn"] == "0000000000000000"
    assert status["SigBlk"] == "0000000000000000"
  end

  test "ready → proceed → running → exited, with host pid, child pid and info along the way" do
    {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", "exit 7"])
    host_pid = await_ready()
    assert {:ok, ^host_pid} = LP.host_pid(s)

    # Parked: the child exists, is our agent's child, and has not exec'd (it is still
    # the agent binary's image).
    {:ok, %Info{stage: :ready, child_pid: ^host_pid, host_pid: ^host_pid, mode: :spawn}} =
      LP.info(s)

    {_state, agent_pid, _} = stat(host_pid)
    assert File.read_link!("/proc/#{host_pid}/exe") == File.read_link!("/proc/#{agent_pid}/exe")

    assert :ok = LP.proceed(s)
    # A second proceed is harmless: :ok while exec is pending, :running after,
    # :no_process if the workload already ended (it is quick).
    assert LP.proceed(s) in [:ok, {:error, :running}, {:error, :no_process}]
    await_running()
    assert_receive {:linx_process, :exited, 7}, 5_000
    assert {:ok, {:exited, 7}} = LP.wait(s)
    assert {:ok, %Info{stage: :exited, result: {:exited, 7}}} = LP.info(s)
    assert LP.proceed(s) == {:error, :no_process}
    assert LP.abort(s) == {:error, :no_process}
    assert LP.signal(s, 9) == {:error, :no_process}
    refute_received {:linx_process, _, _}
    refute_received {:linx_process, _}
  end

  test "execve failure is the terminal error event, never :running" do
    {:ok, s} = LP.spawn(argv: ["/this/does/not/exist"], auto_proceed: true)
    assert_receive {:linx_process, :error, 2, :execve}, 5_000
    refute_received {:linx_process, :running}

    assert {:error, %Error{stage: :execve, errno: :enoent, code: 2} = e} = LP.wait(s)
    assert Exception.message(e) == "process execve failed: enoent (errno 2)"

    assert {:ok, %Info{stage: :errored} = info} = LP.info(s)
    assert inspect(info) =~ ~r/^#Linx.Process.Info<spawn :errored\(execve\/2\) host=\d+>$/
  end

  test "a cwd that does not exist fails at :chdir, visibly" do
    {:ok, s} = LP.spawn(argv: ["/bin/true"], cwd: "/nonexistent-dir", auto_proceed: true)
    assert_receive {:linx_process, :error, 2, :chdir}, 5_000
    assert {:error, %Error{stage: :chdir, errno: :enoent}} = LP.wait(s)
  end

  test "cwd and env reach the workload" do
    out =
      run!(["/bin/sh", "-c", "pwd; echo $LINX_T; echo ${HOME:-nohome}"],
        cwd: "/proc",
        env: ["LINX_T=x y"]
      )

    assert out.stdout == "/proc\nx y\nnohome\n"
    assert out.terminal == {:linx_process, :exited, 0}

    # Without :env the BEAM's environment is inherited.
    System.put_env("LINX_PROCESS_INHERIT_TEST", "inherited")
    out = run!(["/bin/sh", "-c", "echo $LINX_PROCESS_INHERIT_TEST"])
    assert out.stdout == "inherited\n"
  end

  test "signals sent before :running are kept and delivered in order after the exec" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "60"])
    _ = await_ready()
    assert :ok = LP.signal(s, 15)
    assert :ok = LP.signal(s, 9)
    assert {:ok, %Info{stage: :ready}} = LP.info(s)
    assert :ok = LP.proceed(s)
    await_running()
    # SIGTERM went first: its default action decides the exit (the kernel marks the
    # group exit when a fatal signal is sent, and the later SIGKILL changes nothing).
    assert_receive {:linx_process, :signaled, 15}, 5_000
  end

  test "signal/2 on a running workload and wait with a timeout" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "60"], auto_proceed: true)
    _ = await_ready()
    await_running()
    assert LP.wait(s, 50) == {:error, :timeout}
    assert {:ok, %Info{stage: :running}} = LP.info(s)
    assert LP.abort(s) == {:error, :running}
    assert LP.proceed(s) == {:error, :running}

    waiters = for _ <- 1..3, do: Task.async(fn -> LP.wait(s) end)
    assert :ok = LP.signal(s, 9)
    assert Enum.map(waiters, &Task.await/1) == List.duplicate({:ok, {:signaled, 9}}, 3)
    assert_receive {:linx_process, :signaled, 9}
    assert {:ok, %Info{stage: :signaled} = info} = LP.info(s)
    assert inspect(info) =~ ":signaled(9)"
  end

  test "abort at the checkpoint: the child never runs and is reaped" do
    {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", "echo ran"], stdio: [stdout: :pipe])
    host_pid = await_ready()
    start = starttime!(host_pid)
    assert :ok = LP.abort(s)
    # A second abort: :ok while the first is under way, :no_process once it is done.
    assert LP.abort(s) in [:ok, {:error, :no_process}]
    assert_receive {:linx_process, :aborted}, 5_000
    refute_received {:linx_process, :stdout, _}
    assert {:ok, :aborted} = LP.wait(s)
    refute alive?(host_pid, start)
    assert LP.proceed(s) == {:error, :no_process}
  end

  test "stopping a session right after abort still ends in exactly one :aborted" do
    {:ok, s} = LP.spawn(argv: ["/bin/true"])
    host_pid = await_ready()
    start = starttime!(host_pid)
    :ok = LP.abort(s)
    :ok = GenServer.stop(s)
    # terminate/2 waited for the agent and forwarded the terminal event.
    assert_received {:linx_process, :aborted}
    refute alive?(host_pid, start)
    refute_received {:linx_process, :error, _, _}
  end

  test "stopping a parked session aborts the child; stopping a proceeding one too" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "60"])
    host_pid = await_ready()
    start = starttime!(host_pid)
    :ok = GenServer.stop(s)
    assert_received {:linx_process, :aborted}
    refute alive?(host_pid, start)

    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "60"])
    host_pid = await_ready()
    start = starttime!(host_pid)
    :ok = LP.proceed(s)
    :ok = GenServer.stop(s)
    refute alive?(host_pid, start)
  end

  test "verbs before :ready, against an agent that never answers" do
    agent = fake_agent!("exec cat <&3 >/dev/null")
    {:ok, s} = LP.spawn(argv: ["/bin/true"], agent: agent)
    assert LP.proceed(s) == {:error, :not_ready}
    assert LP.host_pid(s) == {:error, :not_ready}
    assert {:ok, %Info{stage: :starting, host_pid: nil, child_pid: nil} = info} = LP.info(s)
    assert inspect(info) == "#Linx.Process.Info<spawn :starting>"
    assert LP.signal(s, 15) == :ok
    assert LP.abort(s) == :ok
    assert GenServer.call(s, {:cap_set_ambient, 0}) == {:error, :not_ready}
    Process.unlink(s)
    Process.exit(s, :kill)
  end

  test "an abort before :ready is sent at :ready, even with auto_proceed" do
    # The real agent, started 300 ms late, so the abort surely comes first.
    agent = fake_agent!("sleep 0.3; exec #{agent_path()}")

    {:ok, s} =
      LP.spawn(
        argv: ["/bin/sh", "-c", "echo ran"],
        stdio: [stdout: :pipe],
        auto_proceed: true,
        agent: agent
      )

    assert :ok = LP.abort(s)
    assert_receive {:linx_process, :ready, _}, 5_000
    assert_receive {:linx_process, :aborted}, 5_000
    refute_received {:linx_process, :running}
    assert {:ok, :aborted} = LP.wait(s)
  end

  # OTP logs a GenServer stopping with an abnormal reason; that is the point here.
  @tag capture_log: true
  test "linger: false stops the session with an outcome-derived reason" do
    Process.flag(:trap_exit, true)

    for {argv, reason} <- [
          {["/bin/true"], :normal},
          {["/bin/false"], {:exited, 1}},
          {["/bin/sh", "-c", "kill -9 $$"], {:signaled, 9}},
          {["/nope"], {:error, %Error{stage: :execve, errno: :enoent, code: 2}}}
        ] do
      {:ok, s} = LP.spawn(argv: argv, linger: false, auto_proceed: true)
      assert_receive {:EXIT, ^s, ^reason}, 5_000
      assert LP.wait(s) == {:error, :no_process}
      assert LP.info(s) == {:error, :no_process}
      assert LP.host_pid(s) == {:error, :no_process}
    end

    {:ok, s} = LP.spawn(argv: ["/bin/true"], linger: false)
    _ = await_ready()
    :ok = LP.abort(s)
    assert_receive {:EXIT, ^s, {:shutdown, :aborted}}, 5_000
  end

  test "set_owner retargets events; an owner given by name gets them too" do
    parent = self()

    relay =
      spawn_link(fn ->
        receive do
          {:linx_process, :running} = m -> send(parent, {:relayed, m})
        end

        receive do
          m -> send(parent, {:relayed, m})
        end
      end)

    {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", "exit 4"])
    _ = await_ready()
    assert :ok = LP.set_owner(s, relay)
    :ok = LP.proceed(s)
    assert_receive {:relayed, {:linx_process, :running}}, 5_000
    assert_receive {:relayed, {:linx_process, :exited, 4}}, 5_000
    refute_received {:linx_process, :running}

    name = :"linx_process_owner_#{System.unique_integer([:positive])}"
    Process.register(self(), name)
    {:ok, s} = LP.spawn(argv: ["/bin/true"], owner: name, auto_proceed: true)
    assert_receive {:linx_process, :exited, 0}, 5_000
    assert LP.set_owner(s, self()) == :ok
    Process.unregister(name)
  end

  test "pty and stdin verbs refuse sessions without them" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
    await_running()
    assert LP.pty_write(s, "x") == {:error, :no_pty}
    assert LP.pty_set_winsize(s, {1, 1, 0, 0}) == {:error, :no_pty}
    assert LP.pty_master(s) == {:error, :no_pty}
    assert LP.stdin_write(s, "x") == {:error, :no_stdin_pipe}
    assert LP.stdin_close(s) == {:error, :no_stdin_pipe}
    :ok = GenServer.stop(s)
  end

  test "stray messages and exits do not disturb a session" do
    {:ok, s} = LP.spawn(argv: ["/bin/sh", "-c", "exit 0"])
    _ = await_ready()
    send(s, :garbage)
    send(s, {make_ref(), {:data, "not from our port"}})
    send(s, {:EXIT, spawn(fn -> :ok end), :boom})
    :ok = LP.proceed(s)
    assert {:ok, {:exited, 0}} = LP.wait(s)
  end

  test "exactly one terminal event even when the agent is asked twice to end" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
    _ = await_ready()
    await_running()
    :ok = LP.signal(s, 15)
    # The agent may already have reaped the workload when the second signal comes.
    assert LP.signal(s, 9) in [:ok, {:error, :no_process}]
    assert_receive {:linx_process, :signaled, 15}, 5_000
    # The agent is gone: more verbs are refused, and no second terminal event comes.
    assert LP.signal(s, 9) == {:error, :no_process}
    assert LP.wait(s) == {:ok, {:signaled, 15}}
    refute_receive {:linx_process, _, _}, 100
  end
end
