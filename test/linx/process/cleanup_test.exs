Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.CleanupTest do
  # One test per cleanup guarantee: whatever ends the session (its owner, its caller, a
  # supervisor, a brutal kill, the agent's death, the whole VM's death), the workload
  # does not survive it, and nothing (fd, zombie) is left behind.
  use ExUnit.Case, async: false

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP

  @moduletag timeout: 120_000

  # A running workload that ignores SIGTERM (dispositions are reset at exec, so the
  # shell sets it itself) and reports when it is up.
  @stubborn ["/bin/sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"]

  defp running_workload(opts) do
    {:ok, s} = LP.spawn(Keyword.merge([argv: ["/bin/sleep", "600"], auto_proceed: true], opts))
    pid = await_ready()
    await_running()
    # The stubborn shell says "up" once its trap is set.
    if opts[:argv] == @stubborn, do: assert_receive({:linx_process, :stdout, "up\n"}, 5_000)
    {s, pid, starttime!(pid)}
  end

  test "the owner exiting kills the workload" do
    owner =
      spawn(fn ->
        receive do
          :stop -> :ok
        end
      end)

    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "600"], owner: owner, auto_proceed: true)
    {:ok, pid} = await_host_pid(s)
    start = starttime!(pid)
    ref = Process.monitor(s)
    send(owner, :stop)
    assert_receive {:DOWN, ^ref, :process, ^s, :normal}, 5_000
    # The session stops only after the agent reported the reap.
    refute alive?(pid, start)
  end

  # OTP logs the sessions stopping with the caller's :killed reason.
  @tag capture_log: true
  test "the linked caller exiting kills the workload, parked or running" do
    test = self()

    caller =
      spawn(fn ->
        {:ok, running} = LP.spawn(argv: ["/bin/sleep", "600"], auto_proceed: true, owner: test)
        {:ok, parked} = LP.spawn(argv: ["/bin/sleep", "600"], owner: test)
        send(test, {:sessions, running, parked})
        Process.sleep(:infinity)
      end)

    assert_receive {:sessions, running, parked}, 5_000
    p1 = await_ready()
    p2 = await_ready()
    await_running()
    starts = [{p1, starttime!(p1)}, {p2, starttime!(p2)}]
    refs = [Process.monitor(running), Process.monitor(parked)]
    Process.exit(caller, :kill)
    for ref <- refs, do: assert_receive({:DOWN, ^ref, :process, _, :killed}, 5_000)
    for {pid, start} <- starts, do: refute(alive?(pid, start))
  end

  test "a supervisor shutdown kills the workload before the supervisor moves on" do
    test = self()
    spec = {LP, argv: ["/bin/sleep", "600"], auto_proceed: true, owner: test, id: :sleeper}
    {:ok, sup} = Supervisor.start_link([spec], strategy: :one_for_one)
    pid = await_ready()
    await_running()
    start = starttime!(pid)
    :ok = Supervisor.terminate_child(sup, :sleeper)
    refute alive?(pid, start)
    # terminate/2 forwarded the workload's terminal event to the owner on the way out.
    assert_received {:linx_process, :signaled, 9}

    {:ok, _} = Supervisor.restart_child(sup, :sleeper)
    pid2 = await_ready()
    await_running()
    start2 = starttime!(pid2)
    :ok = Supervisor.stop(sup)
    refute alive?(pid2, start2)
  end

  test "a session killed outright: the agent sees its fd 3 close and kills the workload" do
    {s, pid, start} = running_workload(argv: @stubborn, stdio: [stdout: :pipe])
    Process.unlink(s)
    Process.exit(s, :kill)
    await_gone(pid, start, 1_000)

    # A parked child goes the same way.
    {:ok, s} = LP.spawn(argv: ["/bin/true"])
    pid = await_ready()
    start = starttime!(pid)
    Process.unlink(s)
    Process.exit(s, :kill)
    await_gone(pid, start, 1_000)
  end

  test "orphan_policy {:kill, grace}: SIGTERM first, SIGKILL after the grace period" do
    {s, pid, start} =
      running_workload(argv: @stubborn, stdio: [stdout: :pipe], orphan_policy: {:kill, 1_500})

    Process.unlink(s)
    Process.exit(s, :kill)
    Process.sleep(300)
    assert alive?(pid, start), "SIGTERM is ignored: the workload lives through the grace period"
    await_gone(pid, start, 3_000)
  end

  test "the agent SIGKILLed: the workload dies with it, the owner gets :agent_died" do
    {s, pid, start} = running_workload([])
    {_state, agent, _} = stat(pid)
    System.cmd("kill", ["-9", Integer.to_string(agent)])
    assert_receive {:linx_process, :error, 137, :agent_died}, 5_000
    await_gone(pid, start, 1_000)

    assert {:error, %LP.Error{stage: :agent_died, errno: :unknown, code: 137} = e} = LP.wait(s)
    assert Exception.message(e) =~ "exit status 137"
  end

  test "the VM SIGKILLed with 100 live sessions: no workload survives a second later" do
    ebin = Path.join(:code.lib_dir(:linx), "ebin")

    script = """
    for i <- 1..100 do
      {:ok, _} = Linx.Process.spawn(argv: ["/bin/sleep", "600"], auto_proceed: rem(i, 5) != 0)
    end
    pids = for _ <- 1..100, do: (receive do {:linx_process, :ready, p} -> p end)
    for _ <- 1..80, do: (receive do {:linx_process, :running} -> :ok end)
    IO.puts("BEAM " <> System.pid())
    IO.puts("PIDS " <> Enum.join(pids, " "))
    Process.sleep(:infinity)
    """

    port =
      Port.open({:spawn_executable, System.find_executable("elixir")}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 65_536},
        args: ["-pa", ebin, "-e", script]
      ])

    {beam, pids} = read_pids(port, nil)
    workloads = for p <- pids, do: {p, starttime!(p)}
    agents = for p <- pids, {_, agent, _} <- [stat(p)], do: {agent, starttime!(agent)}
    assert length(workloads) == 100

    System.cmd("kill", ["-9", beam])
    assert_receive {^port, {:exit_status, 137}}, 5_000
    Process.sleep(1_000)
    assert for({p, s} <- workloads, alive?(p, s), do: p) == []
    assert for({p, s} <- agents, alive?(p, s), do: p) == []
  end

  test "1,000 sequential sessions leave no fd, no child process and no zombie behind" do
    # An agent started ahead by earlier tests is not a session's leftover: close it
    # before counting. The one left idle at the end expires within the settle time.
    :ok = Linx.Process.Prestart.drain()
    beam = String.to_integer(System.pid())
    fds = fd_count()
    children = descendants(beam)

    for i <- 1..1_000 do
      {:ok, s} = LP.spawn(argv: ["/bin/true"], auto_proceed: true, linger: rem(i, 2) == 0)
      assert_receive {:linx_process, :exited, 0}, 5_000
      assert_receive {:linx_process, :ready, _}
      assert_receive {:linx_process, :running}
      if rem(i, 2) == 0, do: GenServer.stop(s)
    end

    # Agents exit on their own right after their session closed the port: wait for the
    # OS to catch up, then compare. The agents started ahead for a next spawn are not
    # leftovers of these sessions: they are closed first.
    :ok = Linx.Process.Prestart.drain()
    assert settle(fn -> descendants(beam) -- children end, []) == []
    zombies = for p <- descendants(beam), match?({"Z", _, _}, stat(p)), do: p
    assert zombies == []
    assert fd_count() == fds
  end

  defp await_host_pid(s, tries \\ 500) do
    case LP.host_pid(s) do
      {:ok, pid} ->
        # The owner is another process: wait until the child is parked or running.
        {:ok, pid}

      {:error, :not_ready} when tries > 0 ->
        Process.sleep(2)
        await_host_pid(s, tries - 1)
    end
  end

  defp read_pids(port, beam) do
    receive do
      {^port, {:data, {:eol, "BEAM " <> pid}}} ->
        read_pids(port, pid)

      {^port, {:data, {:eol, "PIDS " <> pids}}} ->
        {beam, pids |> String.split() |> Enum.map(&String.to_integer/1)}

      {^port, {:data, {_, _other_output}}} ->
        read_pids(port, beam)

      {^port, {:exit_status, status}} ->
        flunk("child VM exited with #{status}")
    after
      60_000 -> flunk("child VM did not report its sessions")
    end
  end

  defp fd_count, do: length(File.ls!("/proc/self/fd"))

  defp settle(fun, expected, tries \\ 200) do
    case fun.() do
      ^expected ->
        expected

      other when tries == 0 ->
        other

      _ ->
        Process.sleep(10)
        settle(fun, expected, tries - 1)
    end
  end
end
