Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.NamespacesTest do
  # Namespaces created by clone3 and joined by enter/2. Every namespace here belongs to a
  # workload the test starts and dies with it; nothing on the host changes.
  use ExUnit.Case, async: true

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP

  @moduletag :root

  @kinds %{
    net: "net",
    mount: "mnt",
    pid: "pid",
    uts: "uts",
    ipc: "ipc",
    user: "user",
    cgroup: "cgroup",
    time: "time"
  }

  defp ns(pid, kind), do: File.read_link!("/proc/#{pid}/ns/#{@kinds[kind]}")

  test ":time is a real time namespace (clone3), not a no-op" do
    {:ok, s} =
      LP.spawn(
        argv: ["/bin/readlink", "/proc/self/ns/time"],
        namespaces: [:time],
        stdio: [stdout: :pipe]
      )

    host_pid = await_ready()
    child_ns = ns(host_pid, :time)
    assert child_ns =~ ~r/^time:\[\d+\]$/
    refute child_ns == File.read_link!("/proc/self/ns/time")
    :ok = LP.proceed(s)
    out = collect()
    # The exec'd workload is in it too.
    assert out.stdout == child_ns <> "\n"

    # Without :time the workload shares the BEAM's.
    {:ok, _} = LP.spawn(argv: ["/bin/true"])
    host_pid = await_ready()
    assert ns(host_pid, :time) == File.read_link!("/proc/self/ns/time")
  end

  test "every kind at once; every namespace file differs from the BEAM's" do
    {:ok, s} = LP.spawn(argv: ["/bin/true"], namespaces: Map.keys(@kinds))
    host_pid = await_ready()

    for kind <- Map.keys(@kinds) do
      refute ns(host_pid, kind) == ns(System.pid(), kind), "#{kind} not new"
    end

    :ok = LP.abort(s)
    assert {:ok, :aborted} = LP.wait(s)
  end

  test ":pid makes the workload pid 1 of its namespace; :ready still carries the host pid" do
    {:ok, s} =
      LP.spawn(argv: ["/bin/sh", "-c", "echo $$"], namespaces: [:pid], stdio: [stdout: :pipe])

    host_pid = await_ready()
    assert host_pid > 1
    assert {:ok, %LP.Info{child_pid: 1, host_pid: ^host_pid}} = LP.info(s)
    :ok = LP.proceed(s)
    assert collect().stdout == "1\n"
  end

  test ":net holds only lo, seen from the host at the checkpoint through the host pid" do
    {:ok, s} = LP.spawn(argv: ["/bin/true"], namespaces: [:net])
    host_pid = await_ready()
    {:ok, sock} = Linx.Netlink.Rtnl.open({:pid, host_pid})
    {:ok, links} = Linx.Netlink.Rtnl.Link.list(sock)
    :ok = Linx.Netlink.Socket.close(sock)
    assert Enum.map(links, & &1.name) == ["lo"]
    :ok = LP.proceed(s)
    assert {:ok, {:exited, 0}} = LP.wait(s)
  end

  test ":user composes with uid/gid maps written by the host at the checkpoint" do
    argv = ["/bin/sh", "-c", "id -u; id -g; grep CapEff /proc/self/status"]
    {:ok, s} = LP.spawn(argv: argv, namespaces: [:user], stdio: [stdout: :pipe])
    host_pid = await_ready()
    # The child keeps its credentials (the BEAM's uid 0); the map names them in the
    # namespace. Allowed once, from the parent namespace, before the workload runs.
    File.write!("/proc/#{host_pid}/setgroups", "deny")
    File.write!("/proc/#{host_pid}/uid_map", "0 0 1\n")
    File.write!("/proc/#{host_pid}/gid_map", "0 0 1\n")
    :ok = LP.proceed(s)
    out = collect()
    assert ["0", "0", "CapEff:" <> caps] = String.split(out.stdout, "\n", trim: true)
    # root in its own user namespace: capabilities (there), up to the bounding set.
    assert String.to_integer(String.trim(caps), 16) > 0

    # Without maps, the workload is the overflow uid.
    out = run!(["/usr/bin/id", "-u"], namespaces: [:user])
    assert out.stdout == "65534\n"
  end

  test ":uts lets the workload rename its own host only" do
    host_name = File.read!("/proc/sys/kernel/hostname")
    out = run!(["/bin/sh", "-c", "hostname linx-uts-ns && hostname"], namespaces: [:uts])
    assert out.stdout == "linx-uts-ns\n"
    assert File.read!("/proc/sys/kernel/hostname") == host_name
  end

  describe "enter/2" do
    setup do
      {:ok, _target} = LP.spawn(argv: ["/bin/sleep", "60"], namespaces: Map.keys(@kinds))
      host_pid = await_ready()
      File.write!("/proc/#{host_pid}/setgroups", "deny")
      File.write!("/proc/#{host_pid}/uid_map", "0 0 1\n")
      File.write!("/proc/#{host_pid}/gid_map", "0 0 1\n")
      # The session is linked to the test process and ends (killing the sleeper) with it.
      %{target: host_pid}
    end

    test "joins all of the target's namespaces by default, user and pid included", %{target: t} do
      kinds = [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]

      script =
        "id -u; for n in #{Enum.map_join(kinds, " ", &@kinds[&1])}; do readlink /proc/self/ns/$n; done"

      {:ok, s} =
        LP.enter(t, argv: ["/bin/sh", "-c", script], stdio: [stdout: :pipe, stderr: :pipe])

      host_pid = await_ready()
      # The target (parked, never exec'd) is pid 1 there: the entered child is another.
      assert {:ok, %LP.Info{mode: :enter, child_pid: child_pid}} = LP.info(s)
      assert child_pid > 1 and child_pid != host_pid
      :ok = LP.proceed(s)
      out = collect()
      assert out.stderr == ""
      assert out.stdout == "0\n" <> Enum.map_join(kinds, &(ns(t, &1) <> "\n"))
    end

    test "joins only the listed namespaces", %{target: t} do
      script = "readlink /proc/self/ns/net /proc/self/ns/uts"

      {:ok, _} =
        LP.enter(t,
          argv: ["/bin/sh", "-c", script],
          namespaces: [:net],
          stdio: [stdout: :pipe],
          auto_proceed: true
        )

      out = collect()
      assert out.stdout == ns(t, :net) <> "\n" <> ns(System.pid(), :uts) <> "\n"
      assert out.terminal == {:linx_process, :exited, 0}
    end

    test "a target that does not exist fails at :open_ns_proc", %{target: _} do
      {:ok, s} = LP.enter(4_194_304 + 7, argv: ["/bin/true"])
      assert_receive {:linx_process, :error, 2, :open_ns_proc}, 5_000
      assert {:error, %LP.Error{stage: :open_ns_proc, errno: :enoent}} = LP.wait(s)
    end
  end
end
