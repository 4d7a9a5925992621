Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.PrestartTest do
  # Agents started ahead (Linx.Process.Prestart): when one is started, that the next
  # session adopts it, that a workload still gets exactly what a new agent would give
  # it (environment, working directory), and that an idle one leaves nothing behind.
  # Not async: it changes the VM's environment and working directory.
  use ExUnit.Case, async: false

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP
  alias Linx.Process.Prestart

  setup do
    :ok = Prestart.drain()
    on_exit(fn -> Prestart.drain() end)
  end

  defp await_idle(tries \\ 200) do
    case Prestart.idle_os_pids() do
      [pid] ->
        pid

      [] when tries > 0 ->
        Process.sleep(5)
        await_idle(tries - 1)

      other ->
        flunk("expected one idle agent, got #{inspect(other)}")
    end
  end

  # Runs a workload to its end, which leaves one agent started ahead.
  defp prime do
    run!(["/bin/true"])
    _ = await_ready()
    await_idle()
  end

  # The runtime reports an agent's OS pid as soon as it forked it, before the exec.
  defp await_exe(pid, tries \\ 200) do
    case File.read_link("/proc/#{pid}/exe") do
      {:ok, exe} ->
        if String.ends_with?(exe, "/linx_agent") or tries == 0,
          do: exe,
          else: Process.sleep(5) && await_exe(pid, tries - 1)

      {:error, _} ->
        flunk("agent #{pid} is gone")
    end
  end

  defp agent_of(host_pid) do
    {_state, ppid, _} = stat(host_pid)
    ppid
  end

  test "once a workload exec'd, one agent is started ahead and the next spawn adopts it" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
    _ = await_ready()
    await_running()
    idle = await_idle()
    assert await_exe(idle) == Path.expand(agent_path())

    {:ok, s2} = LP.spawn(argv: ["/bin/sleep", "30"])
    host_pid = await_ready()
    assert agent_of(host_pid) == idle
    refute idle in Prestart.idle_os_pids()

    :ok = LP.signal(s, 9)
    :ok = LP.abort(s2)
    assert {:ok, {:signaled, 9}} = LP.wait(s)
    assert {:ok, :aborted} = LP.wait(s2)
  end

  test "an :agent option never adopts one" do
    idle = prime()
    {:ok, _} = LP.spawn(argv: ["/bin/true"], agent: agent_path())
    host_pid = await_ready()
    refute agent_of(host_pid) == idle
    assert Prestart.idle_os_pids() == [idle]
  end

  test "a changed environment: the idle agent is discarded, the workload sees the change" do
    idle = prime()
    start = starttime!(idle)
    System.put_env("LINX_PRESTART_PROBE", "changed")
    on_exit(fn -> System.delete_env("LINX_PRESTART_PROBE") end)

    out = run!(["/bin/sh", "-c", "echo $LINX_PRESTART_PROBE"])
    assert out.stdout == "changed\n"
    await_gone(idle, start)
  end

  test "a changed working directory: the workload starts in the new one" do
    idle = prime()
    start = starttime!(idle)
    dir = Path.join(System.tmp_dir!(), "linx-prestart-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    old = File.cwd!()

    try do
      File.cd!(dir)
      out = run!(["/bin/pwd"])
      assert out.stdout == dir <> "\n"
    after
      File.cd!(old)
      File.rm_rf!(dir)
    end

    await_gone(idle, start)
  end

  test "an idle agent expires after a second and leaves no process or descriptor" do
    fds = length(File.ls!("/proc/self/fd"))
    idle = prime()
    start = starttime!(idle)
    assert length(File.ls!("/proc/self/fd")) == fds + 2
    await_gone(idle, start, 3_000)
    assert Prestart.idle_os_pids() == []
    assert length(File.ls!("/proc/self/fd")) == fds
  end

  test "an idle agent killed from outside is forgotten; spawns still work" do
    idle = prime()
    start = starttime!(idle)
    System.cmd("kill", ["-9", to_string(idle)])
    await_gone(idle, start)
    assert run!(["/bin/true"]).terminal == {:linx_process, :exited, 0}
    refute idle in Prestart.idle_os_pids()
  end

  test "the pool going down closes its idle agents and leaves adopted ones alone" do
    _idle = prime()
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
    _ = await_ready()
    await_running()
    idle = await_idle()
    start = starttime!(idle)

    pool = Process.whereis(Prestart)
    ref = Process.monitor(pool)
    Process.exit(pool, :kill)
    assert_receive {:DOWN, ^ref, :process, ^pool, :killed}

    await_gone(idle, start)
    assert {:ok, %LP.Info{stage: :running}} = LP.info(s)
    :ok = LP.signal(s, 9)
    assert collect().terminal == {:linx_process, :signaled, 9}
    # The next spawn starts a new pool.
    assert run!(["/bin/true"]).terminal == {:linx_process, :exited, 0}
  end

  test "config :linx, process_prestart: false starts none" do
    Application.put_env(:linx, :process_prestart, false)
    on_exit(fn -> Application.delete_env(:linx, :process_prestart) end)

    for _ <- 1..3, do: run!(["/bin/true"])
    Process.sleep(50)
    assert Prestart.idle_os_pids() == []
  end
end
