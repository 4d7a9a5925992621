defmodule Linx.Test.SandboxTest do
  # The sandboxes themselves. Their removal is registered with on_exit (which ExUnit runs
  # even when a test fails); test_helper.exs fails the run if any `linx-test-` netns or
  # cgroup is still there after the suite.
  use ExUnit.Case, async: true

  alias Linx.Test.Sandbox

  @moduletag :root

  @tag :iproute2
  test "netns!/1 gives a private, named network namespace with lo up" do
    ns = Sandbox.netns!()
    assert String.starts_with?(ns.name, "linx-test-")
    assert File.exists?(ns.path)
    assert File.read_link!("/proc/self/ns/net") != nil
    [lo] = Sandbox.ip_json!(ns.name, ~w(link show))
    assert lo["ifname"] == "lo"
    assert "UP" in lo["flags"]
  end

  @tag :cgroup2
  test "cgroup!/1 creates a cgroup under the cgroup2 mount from mountinfo and removes it" do
    root = Sandbox.cgroup2_mount()
    assert File.exists?(Path.join(root, "cgroup.procs"))
    path = Sandbox.cgroup!()
    assert Path.dirname(path) == root
    assert File.exists?(Path.join(path, "cgroup.procs"))

    # Removal moves a process left inside back to the root first.
    port = Port.open({:spawn_executable, "/bin/sleep"}, [:binary, args: ["30"]])
    {:os_pid, pid} = Port.info(port, :os_pid)
    File.write!(Path.join(path, "cgroup.procs"), to_string(pid))
    assert File.read!(Path.join(path, "cgroup.procs")) =~ to_string(pid)
    File.mkdir!(Path.join(path, "child"))
    assert :ok = Sandbox.remove_cgroup(path, root)
    refute File.exists?(path)
    Port.close(port)
  end
end
