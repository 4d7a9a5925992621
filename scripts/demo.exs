# `make demo`: Linx against the real kernel, in a private network namespace.
#
# Creates a throwaway netns, builds a veth pair and a bridge in it through Linx's
# rtnetlink socket (opened inside that netns by the NIF, without moving any BEAM
# thread), sends a little traffic, prints what Linx reads back, and removes the netns.
alias Linx.Netlink.{Rtnl, Socket}
alias Linx.Netlink.Rtnl.Link

defmodule Demo do
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

  :ok = Socket.close(sock)
after
  Demo.run!("ip", ["netns", "delete", ns])
  IO.puts("\nRemoved netns #{ns}.")
end
