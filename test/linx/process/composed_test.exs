Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.ComposedTest do
  # The checkpoint composing everything it is for: a workload in all eight kinds of new
  # namespace, its uid/gid maps written and its capabilities shaped while it is parked,
  # then its own report of what it became. Nothing on the host changes.
  use ExUnit.Case, async: true

  import Linx.Process.TestHelpers

  alias Linx.Capabilities, as: Caps
  alias Linx.Capabilities.Constants
  alias Linx.Process, as: LP

  @moduletag :root

  @kinds [:user, :pid, :net, :mount, :uts, :ipc, :time, :cgroup]
  @proc_names %{
    user: "user",
    pid: "pid",
    net: "net",
    mount: "mnt",
    uts: "uts",
    ipc: "ipc",
    time: "time",
    cgroup: "cgroup"
  }

  # Each section of the report starts with a "== name" line.
  @script """
  echo "== uid"; id -u
  echo "== gid"; id -g
  echo "== pid"; echo $$
  echo "== caps"; grep '^Cap' /proc/self/status
  echo "== links"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
  echo "== ns"; for n in user pid net mnt uts ipc time cgroup; do readlink /proc/self/ns/$n; done
  """

  defp sections(text) do
    text
    |> String.split("== ", trim: true)
    |> Map.new(fn section ->
      [name | lines] = String.split(section, "\n", trim: true)
      {name, lines}
    end)
  end

  test "namespaces, maps at :ready, capabilities dropped, proceed: the workload's own view" do
    {:ok, s} =
      LP.spawn(
        argv: ["/bin/sh", "-c", @script],
        namespaces: @kinds,
        stdio: [stdout: :pipe, stderr: :pipe]
      )

    host_pid = await_ready()
    assert {:ok, ^host_pid} = LP.host_pid(s)

    # Every namespace is new, as seen from the host at the checkpoint.
    ns_at_checkpoint =
      for kind <- @kinds do
        mine = File.read_link!("/proc/self/ns/#{@proc_names[kind]}")
        theirs = File.read_link!("/proc/#{host_pid}/ns/#{@proc_names[kind]}")
        refute theirs == mine, "#{kind} is not new"
        theirs
      end

    # Host root becomes root inside; the rest of the range maps to unprivileged ids.
    :ok =
      Linx.User.setup_maps(host_pid,
        uid: [{0, 0, 1}, {1, 100_000, 65_535}],
        gid: [{0, 0, 1}, {1, 100_000, 65_535}]
      )

    keep = MapSet.new([:cap_net_bind_service, :cap_net_admin, :cap_kill, :cap_setpcap])
    ambient = MapSet.new([:cap_net_bind_service])
    all = Constants.all()

    :ok = Caps.set_thread_sets(s, effective: all, permitted: all, inheritable: ambient)
    :ok = Caps.set_ambient(s, ambient)
    :ok = Caps.drop_bounding(s, MapSet.difference(all, keep))
    :ok = LP.proceed(s)

    out = collect()
    assert out.terminal == {:linx_process, :exited, 0}, inspect(out)
    assert out.stderr == ""
    report = sections(out.stdout)

    assert report["uid"] == ["0"]
    assert report["gid"] == ["0"]
    assert report["pid"] == ["1"]
    assert report["links"] == ["lo"]
    assert report["ns"] == ns_at_checkpoint

    {:ok, caps} = Caps.parse_status(Enum.join(report["caps"], "\n"), "workload")
    # capabilities(7): as uid 0 of its namespace the workload gets permitted = effective
    # = bounding ∪ inheritable; ambient and inheritable carry over.
    assert caps.bounding == keep
    assert caps.permitted == keep
    assert caps.effective == keep
    assert caps.inheritable == ambient
    assert caps.ambient == ambient

    assert {:ok, %LP.Info{child_pid: 1, host_pid: ^host_pid, stage: :exited}} = LP.info(s)
  end

  describe "teardown racing the exec" do
    @describetag :root

    # A session stopped between proceed/1 and :running aborts the workload; if it exec'd
    # meanwhile, the agent kills it instead of refusing the abort.
    test "the agent takes an abort after the exec as a kill" do
      port =
        Port.open({:spawn_executable, agent_path()}, [
          :binary,
          :nouse_stdio,
          {:packet, 4},
          :exit_status
        ])

      send_frame = fn term -> Port.command(port, :erlang.term_to_binary(term)) end

      reply = fn ->
        receive do
          {^port, {:data, frame}} -> :erlang.binary_to_term(frame, [:safe])
        after
          5_000 -> flunk("no frame from the agent")
        end
      end

      send_frame.({:spawn, %{argv: ["/bin/sleep", "60"]}})
      assert {:status, :spawned, host_pid} = reply.()
      assert {:status, :ready, ^host_pid} = reply.()
      send_frame.(:proceed)
      assert {:status, :running} = reply.()
      start = starttime!(host_pid)
      send_frame.(:abort)
      assert reply.() == {:status, :signaled, 9}
      refute alive?(host_pid, start)
      Port.close(port)
    end

    test "stopping sessions right after proceed: one terminal event each, never an error" do
      for _ <- 1..50 do
        {:ok, s} = LP.spawn(argv: ["/bin/sleep", "60"])
        _ = await_ready()
        :ok = LP.proceed(s)
        :ok = GenServer.stop(s)
        terminal = collect().terminal
        assert terminal in [{:linx_process, :aborted}, {:linx_process, :signaled, 9}]
      end
    end
  end
end
