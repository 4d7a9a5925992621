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

  # Two agents are started ahead; returns their OS pids once both are there.
  defp await_idle(tries \\ 200) do
    case Prestart.idle_os_pids() do
      [_, _] = pids ->
        Enum.sort(pids)

      _ when tries > 0 ->
        Process.sleep(5)
        await_idle(tries - 1)

      other ->
        flunk("expected two idle agents, got #{inspect(other)}")
    end
  end

  # Runs a workload to its end, which leaves one agent started ahead.
  defp prime do
    run!(["/bin/true"])
    _ = await_ready()
    await_idle()
  end

  # /proc/PID/exe names the resolved path; the installed agent may sit behind the
  # `_build/.../priv` symlink to the source tree's priv/, so files are compared by inode.
  defp same_file?(a, b) do
    {:ok, sa} = File.stat(a)
    {:ok, sb} = File.stat(b)
    {sa.major_device, sa.minor_device, sa.inode} == {sb.major_device, sb.minor_device, sb.inode}
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

  test "once a workload exec'd, agents are started ahead and the next spawn adopts one" do
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
    _ = await_ready()
    await_running()
    idle = await_idle()
    for pid <- idle, do: assert(same_file?(await_exe(pid), agent_path()))

    {:ok, s2} = LP.spawn(argv: ["/bin/sleep", "30"])
    host_pid = await_ready()
    adopted = agent_of(host_pid)
    assert adopted in idle
    assert Prestart.idle_os_pids() == idle -- [adopted]

    :ok = LP.signal(s, 9)
    :ok = LP.abort(s2)
    assert {:ok, {:signaled, 9}} = LP.wait(s)
    assert {:ok, :aborted} = LP.wait(s2)
  end

  test "an :agent option never adopts one" do
    idle = prime()
    {:ok, _} = LP.spawn(argv: ["/bin/true"], agent: agent_path())
    host_pid = await_ready()
    refute agent_of(host_pid) in idle
    assert Enum.sort(Prestart.idle_os_pids()) == idle
  end

  test "a changed environment: the idle agents are discarded, the workload sees the change" do
    idle = for pid <- prime(), do: {pid, starttime!(pid)}
    System.put_env("LINX_PRESTART_PROBE", "changed")
    on_exit(fn -> System.delete_env("LINX_PRESTART_PROBE") end)

    out = run!(["/bin/sh", "-c", "echo $LINX_PRESTART_PROBE"])
    assert out.stdout == "changed\n"
    for {pid, start} <- idle, do: await_gone(pid, start)
  end

  test "a changed working directory: the workload starts in the new one" do
    idle = for pid <- prime(), do: {pid, starttime!(pid)}
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

    for {pid, start} <- idle, do: await_gone(pid, start)
  end

  test "idle agents expire after a second and leave no process or descriptor" do
    fds = length(File.ls!("/proc/self/fd"))
    idle = for pid <- prime(), do: {pid, starttime!(pid)}
    # Two pipe ends per agent's Port.
    assert length(File.ls!("/proc/self/fd")) == fds + 4
    for {pid, start} <- idle, do: await_gone(pid, start, 3_000)
    assert Prestart.idle_os_pids() == []
    assert length(File.ls!("/proc/self/fd")) == fds
  end

  test "idle agents killed from outside: spawns still work, the dead are forgotten" do
    idle = for pid <- prime(), do: {pid, starttime!(pid)}
    for {pid, _} <- idle, do: System.cmd("kill", ["-9", to_string(pid)])
    for {pid, start} <- idle, do: await_gone(pid, start)
    # Whether or not the runtime noticed yet, a dead agent is never given a workload:
    # a session that adopted one sends its request to a new agent.
    for _ <- 1..3, do: assert(run!(["/bin/true"]).terminal == {:linx_process, :exited, 0})
    for {pid, _} <- idle, do: refute(pid in Prestart.idle_os_pids())
  end

  # White-box: an entry put into the pool's table by hand, to make each case certain.
  defp plant(port, key) do
    _ = prime()
    :ok = Prestart.drain()
    true = :ets.insert(Prestart, {port, key, System.monotonic_time(:millisecond), 0})
  end

  defp open_port(path),
    do: Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

  test "an adopted agent that exits without a word is replaced; the workload runs" do
    # It dies once the request reaches it (as one killed while idle would, to the BEAM).
    dead = open_port(fake_agent!("head -c 1 <&3 >/dev/null; exit 0"))
    plant(dead, Prestart.key())
    out = run!(["/bin/echo", "ran"])
    assert out.stdout == "ran\n"
    assert out.terminal == {:linx_process, :exited, 0}
  end

  test "an adopted agent with a stale key is closed before its events count" do
    stale = open_port(agent_path())
    {:os_pid, os_pid} = Port.info(stale, :os_pid)
    start = starttime!(os_pid)
    plant(stale, Prestart.key() + 1)
    out = run!(["/bin/echo", "ran"])
    assert out.stdout == "ran\n"
    assert out.terminal == {:linx_process, :exited, 0}
    await_gone(os_pid, start)
  end

  test "the pool going down closes its idle agents and leaves adopted ones alone" do
    _ = prime()
    {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
    _ = await_ready()
    await_running()
    idle = for pid <- await_idle(), do: {pid, starttime!(pid)}

    pool = Process.whereis(Prestart)
    ref = Process.monitor(pool)
    Process.exit(pool, :kill)
    assert_receive {:DOWN, ^ref, :process, ^pool, :killed}

    for {pid, start} <- idle, do: await_gone(pid, start)
    assert {:ok, %LP.Info{stage: :running}} = LP.info(s)
    :ok = LP.signal(s, 9)
    assert collect().terminal == {:linx_process, :signaled, 9}
    # The next spawn starts a new pool.
    assert run!(["/bin/true"]).terminal == {:linx_process, :exited, 0}
  end

  describe "network namespaces made ahead" do
    # The network namespaces an agent holds open (besides the one it is in).
    defp held_netns(os_pid) do
      own = File.read_link!("/proc/#{os_pid}/ns/net")

      for fd <- File.ls!("/proc/#{os_pid}/fd"),
          {:ok, "net:" <> _ = link} <- [File.read_link("/proc/#{os_pid}/fd/#{fd}")],
          link != own,
          do: link
    end

    # Each idle agent's spare namespace, once both agents have made theirs.
    defp await_spares(pids, tries \\ 200) do
      case Enum.map(pids, &held_netns/1) do
        held when tries > 0 ->
          if Enum.all?(held, &match?([_], &1)),
            do: List.flatten(held),
            else: Process.sleep(5) && await_spares(pids, tries - 1)

        held ->
          flunk("idle agents hold #{inspect(held)}")
      end
    end

    defp links_seen_by_ip(host_pid) do
      {out, 0} = System.cmd("nsenter", ["-t", "#{host_pid}", "-n", "ip", "-j", "link", "show"])
      {:ok, links} = Linx.NativeBuild.JSON.decode(out)
      for link <- links, do: {link["ifname"], link["operstate"]}
    end

    test "after a spawn that wanted one, idle agents make one; the next such spawn gets it" do
      host_ns = File.read_link!("/proc/self/ns/net")
      run!(["/bin/true"], namespaces: [:net])
      _ = await_ready()
      idle = await_idle()
      spares = await_spares(idle)
      # The agents themselves are back in the BEAM's namespace; each spare is its own.
      for pid <- idle, do: assert(File.read_link!("/proc/#{pid}/ns/net") == host_ns)
      assert length(Enum.uniq(spares)) == 2
      refute host_ns in spares

      {:ok, s} = LP.spawn(argv: ["/bin/true"], namespaces: [:net, :pid, :mount])
      host_pid = await_ready()
      workload_ns = File.read_link!("/proc/#{host_pid}/ns/net")
      assert workload_ns in spares
      # As fresh as a clone3(CLONE_NEWNET) one: nothing but its own lo, down (ip(8)'s view).
      assert links_seen_by_ip(host_pid) == [{"lo", "DOWN"}]
      :ok = LP.proceed(s)
      assert_receive {:linx_process, :exited, 0}, 5_000
      GenServer.stop(s)
    end

    test "a spawn without :net, or with :user too, does not get one made ahead" do
      host_ns = File.read_link!("/proc/self/ns/net")
      run!(["/bin/true"], namespaces: [:net])
      _ = await_ready()
      spares = await_spares(await_idle())

      {:ok, s} = LP.spawn(argv: ["/bin/true"])
      host_pid = await_ready()
      assert File.read_link!("/proc/#{host_pid}/ns/net") == host_ns
      :ok = LP.abort(s)
      assert {:ok, :aborted} = LP.wait(s)

      # A new user namespace must own its network namespace: clone3 makes that one.
      {:ok, s} = LP.spawn(argv: ["/bin/true"], namespaces: [:user, :net])
      host_pid = await_ready()
      workload_ns = File.read_link!("/proc/#{host_pid}/ns/net")
      refute workload_ns in spares
      refute workload_ns == host_ns
      :ok = LP.abort(s)
      assert {:ok, :aborted} = LP.wait(s)
    end

    test "after spawns without :net, agents make none" do
      run!(["/bin/true"], namespaces: [:net])
      _ = await_ready()
      _ = await_spares(await_idle())
      :ok = Prestart.drain()
      run!(["/bin/true"], namespaces: [:pid])
      _ = await_ready()
      idle = await_idle()
      # Give an agent time to make one, if it (wrongly) would.
      Process.sleep(50)
      for pid <- idle, do: assert(held_netns(pid) == [])
    end
  end

  test "config :linx, process_prestart: false starts none" do
    Application.put_env(:linx, :process_prestart, false)
    on_exit(fn -> Application.delete_env(:linx, :process_prestart) end)

    for _ <- 1..3, do: run!(["/bin/true"])
    Process.sleep(50)
    assert Prestart.idle_os_pids() == []
  end
end
