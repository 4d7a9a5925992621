# `make demo`: Linx against the real kernel, in a private network namespace.
#
# Part 1 creates a throwaway netns, builds a veth pair and a bridge in it through
# Linx's rtnetlink socket (opened inside that netns by the NIF, without moving any BEAM
# thread), sends a little traffic and prints what Linx reads back.
#
# Part 2 starts a workload in fresh namespaces with Linx.Process and, while it is parked
# at the checkpoint, gives it uid/gid maps, a veth moved in from the demo netns with an
# address, and a reduced capability set; then lets it run, and prints what it sees of
# itself. The workload's namespaces die with it; the demo netns is removed at the end.
# Nothing on the host changes.
alias Linx.Netlink.{Rtnl, Socket}
alias Linx.Netlink.Rtnl.{Address, Link}

defmodule Demo do
  alias Linx.Capabilities.Constants

  # What the workload runs: it reports on itself.
  @script ~S"""
  hostname linx-workload
  echo "uid=$(id -u) gid=$(id -g) pid=$$ hostname=$(hostname)"
  echo "links:"; ip -br link | sed 's/^/  /'
  echo "addresses:"; ip -br -4 addr | sed 's/^/  /'
  ping -c 1 -W 2 10.99.0.2 >/dev/null && echo "ping 10.99.0.2 (br0, in the demo netns): ok"
  grep '^Cap' /proc/self/status
  """

  # Part 2: a workload in fresh namespaces, set up at the checkpoint.
  def workload!(sock) do
    IO.puts("\n== A workload in fresh namespaces (Linx.Process) ==\n")
    namespaces = [:user, :pid, :net, :mount, :uts, :ipc, :cgroup]

    # The veth for the workload: made in the demo netns, its peer on br0.
    :ok = Link.create_veth(sock, "vethX", "vethY")
    :ok = Link.set_master(sock, "vethY", "br0")
    :ok = Link.set_up(sock, "vethY")

    {:ok, s} =
      Linx.Process.spawn(argv: ["/bin/sh", "-c", @script], namespaces: namespaces, stdio: :pipe)

    host_pid =
      receive do
        {:linx_process, :ready, pid} -> pid
      after
        5_000 -> raise "the workload never reached its checkpoint"
      end

    IO.puts("Spawned in new #{Enum.join(namespaces, ", ")} namespaces; parked at the")
    IO.puts("checkpoint as host pid #{host_pid}. Meanwhile, from the host:")

    # Root inside is the BEAM's uid (root) outside; 65,535 more ids map to 100000+.
    maps = [{0, 0, 1}, {1, 100_000, 65_535}]
    :ok = Linx.User.setup_maps(host_pid, uid: maps, gid: maps)
    {:ok, uid_map} = Linx.User.read_uid_map(host_pid)
    IO.puts("  uid_map written: #{Enum.map_join(uid_map, ", ", &inspect/1)}")

    # vethX moves from the demo netns into the workload's, and is configured inside.
    :ok = Link.move_to_netns(sock, "vethX", host_pid)
    {:ok, inner} = Rtnl.open({:pid, host_pid})
    :ok = Link.set_up(inner, "lo")
    :ok = Address.add(inner, "vethX", "10.99.0.10", 24)
    :ok = Link.set_up(inner, "vethX")
    :ok = Socket.close(inner)
    IO.puts("  vethX moved into its netns, 10.99.0.10/24, up")

    # Only two capabilities survive the exec (as uid 0 of its own namespaces).
    keep = MapSet.new([:cap_net_raw, :cap_sys_admin])
    :ok = Linx.Capabilities.drop_bounding(s, MapSet.difference(Constants.all(), keep))
    IO.puts("  bounding set cut to #{Enum.join(Enum.sort(keep), ", ")}")

    :ok = Linx.Process.proceed(s)
    {out, result} = collect("")
    IO.puts("\nThe workload's own report:")

    for line <- String.split(out, "\n", trim: true) do
      IO.puts("  " <> decode_caps(line))
    end

    IO.puts("\nIt ended with #{inspect(result)}; its namespaces (and vethX) went with it.")
    {:ok, host} = :inet.gethostname()
    IO.puts("The host's hostname is still #{host}.")
  end

  defp collect(out) do
    receive do
      {:linx_process, :stdout, bytes} -> collect(out <> bytes)
      {:linx_process, :stderr, bytes} -> collect(out <> bytes)
      {:linx_process, :running} -> collect(out)
      {:linx_process, :exited, code} -> {out, {:exited, code}}
      {:linx_process, :signaled, sig} -> {out, {:signaled, sig}}
      {:linx_process, :error, errno, stage} -> {out, {:error, errno, stage}}
    after
      10_000 -> raise "the workload did not finish"
    end
  end

  # "CapEff:\t00000000...": the mask, then its capabilities by name.
  defp decode_caps("Cap" <> _ = line) do
    [tag, hex] = String.split(line, ":", parts: 2)
    hex = String.trim(hex)
    names = hex |> String.to_integer(16) |> Constants.from_bits() |> Enum.sort()
    "#{tag}: #{hex} = #{if names == [], do: "(none)", else: Enum.join(names, ",")}"
  end

  defp decode_caps(line), do: line

  def run!(cmd, args) do
    case System.cmd(cmd, args, stderr_to_stdout: true) do
      {out, 0} -> out
      {out, status} -> raise "#{cmd} #{Enum.join(args, " ")} failed (#{status}): #{out}"
    end
  end

  def table(links) do
    header = [
      "IDX",
      "NAME",
      "KIND",
      "STATE",
      "FLAGS",
      "MTU",
      "ADDRESS",
      "MASTER",
      "RX pkts",
      "TX pkts"
    ]

    names = Map.new(links, &{&1.index, &1.name})

    rows =
      for l <- links do
        [
          to_string(l.index),
          l.name,
          Link.kind(l) || "-",
          l |> Link.operstate() |> to_string(),
          l |> Link.flag_names() |> Enum.map_join(",", &to_string/1),
          to_string(l.mtu),
          if(l.address, do: to_string(l.address), else: "-"),
          Map.get(names, l.master, "-"),
          to_string(l.stats64 && l.stats64.rx_packets),
          to_string(l.stats64 && l.stats64.tx_packets)
        ]
      end

    widths =
      Enum.zip_with([header | rows], & &1)
      |> Enum.map(fn col -> col |> Enum.map(&String.length/1) |> Enum.max() end)

    for row <- [header | rows] do
      row
      |> Enum.zip(widths)
      |> Enum.map_join("  ", fn {cell, w} -> String.pad_trailing(cell, w) end)
      |> String.trim_trailing()
      |> IO.puts()
    end
  end
end

if System.get_env("USER") != "root" and not File.exists?("/run/netns") do
  IO.puts("note: the demo creates a network namespace and needs root")
end

ns = "linx-demo-#{System.pid()}"
Demo.run!("ip", ["netns", "add", ns])

try do
  {:ok, sock} = Rtnl.open({:path, "/run/netns/#{ns}"})
  IO.puts("Opened an rtnetlink socket inside netns #{ns} (this BEAM stays in the host netns).\n")

  :ok = Link.create_veth(sock, "veth0", "veth1")
  :ok = Link.create_bridge(sock, "br0")
  :ok = Link.set_master(sock, "veth1", "br0")
  for l <- ["lo", "veth0", "veth1", "br0"], do: :ok = Link.set_up(sock, l)

  # A little traffic so the counters move (addresses only inside the private netns).
  Demo.run!("ip", ["-n", ns, "addr", "add", "10.99.0.1/24", "dev", "veth0"])
  Demo.run!("ip", ["-n", ns, "addr", "add", "10.99.0.2/24", "dev", "br0"])

  System.cmd(
    "ip",
    ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-I", "veth0", "10.99.0.2"],
    stderr_to_stdout: true
  )

  {:ok, links} = Link.list(sock)
  Demo.table(links)

  {:ok, br} = Link.get(sock, "br0")
  IO.puts("\nbr0 as Linx decodes it: #{inspect(br)}")
  IO.puts("  bridge STP state: #{inspect(br.linkinfo.info_data |> Map.get(:stp_state))}")
  {:ok, port} = Link.get(sock, "veth1")

  IO.puts(
    "  veth1 is a #{port.linkinfo.slave_kind} port: #{inspect(port.linkinfo.slave_data, limit: 6)}"
  )

  case Link.get(sock, "nope0") do
    {:error, err} -> IO.puts("\nErrors are values: #{Exception.message(err)}")
  end

  Demo.workload!(sock)
  :ok = Socket.close(sock)
after
  Demo.run!("ip", ["netns", "delete", ns])
  IO.puts("\nRemoved netns #{ns}.")
end
