defmodule Linx.Netlink.SocketLeakTest do
  # Synchronous: it counts every fd and thread of the BEAM, so no other test may run
  # beside it (ExUnit runs sync modules after all async ones, one at a time).
  use ExUnit.Case, async: false

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Test.Sandbox

  @moduletag :root
  @moduletag :iproute2

  test "1,000 opens in another netns leave every BEAM thread in its own netns and leak no fd" do
    ns = Sandbox.netns!()
    threads_before = Sandbox.thread_netns()
    fds_before = Sandbox.open_fds()
    host = File.read_link!("/proc/self/ns/net")

    for _ <- 1..1000 do
      {:ok, sock} = Rtnl.open({:path, ns.path})
      :ok = Socket.close(sock)
    end

    after_threads = Sandbox.thread_netns()
    # Threads may come and go (dirty schedulers are pre-started, but be precise):
    # every thread that exists now is in the host netns.
    assert after_threads |> Map.values() |> Enum.uniq() |> Enum.reject(&(&1 == :gone)) == [host]

    assert threads_before |> Map.values() |> Enum.uniq() |> Enum.reject(&(&1 == :gone)) == [
             host
           ]

    assert Sandbox.open_fds() == fds_before
  end
end
