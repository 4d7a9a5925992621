# Bulk routes: Linx against iproute2, pyroute2 and the kernel floor.
#
#     mix run bench/routes.exs [N] [--runs R] [--pyroute2-runs P]
#
# (as root; defaults N = 100000, R = 3, P = 1). In a private network namespace
# (`linx-bench-<pid>`, removed at the end) with a veth `v0` up, each tool in turn, from an
# empty table 100:
#
#   (a) adds N IPv4 /32 routes `10.x.y.z/32 dev v0 table 100`;
#   (b) dumps and decodes table 100;
#   (c) deletes the N routes.
#
# Linx: `Route.add_many/3`, `Route.list/2` (a list of N structs) and `Route.fold/4` (the
# same decoding, streamed, as `ip` does), `Route.delete_many/3`. iproute2: `ip -batch` of
# `route add`/`route del` lines, and `ip -j route show table 100 > /dev/null`. pyroute2
# (from a venv in ~/.cache/linx/pyroute2-venv, created with pip if missing):
# `IPRoute.route("add"/"del")` per route and `get_routes(table=100)`. The floor is
# ../shared/floors/routes_floor.py (raw rtnetlink from Python, no decoding; add and dump
# only). Each figure is the best of its runs; every tool's work is checked (N routes
# after the add, none after the delete). Nothing touches the host's own netns.

alias Linx.IP
alias Linx.Netlink.{Rtnl, Socket}
alias Linx.Netlink.Rtnl.Route

defmodule Bench.Routes do
  @moduledoc false

  def sh!(cmd) do
    case System.cmd("sh", ["-c", cmd], stderr_to_stdout: true) do
      {out, 0} -> out
      {out, status} -> raise "`#{cmd}` exited #{status}: #{out}"
    end
  end

  def ip!(ns, args), do: sh!("ip -n #{ns} #{args}")

  def timed(fun) do
    t0 = System.monotonic_time(:microsecond)
    result = fun.()
    {(System.monotonic_time(:microsecond) - t0) / 1_000_000, result}
  end

  def dst(i), do: "10.#{1 + div(i, 65536)}.#{rem(div(i, 256), 256)}.#{rem(i, 256)}"

  def count(sock) do
    {:ok, n} = Route.fold(sock, 0, fn _, n -> n + 1 end, table: 100)
    n
  end

  # (the table does not exist while it is empty: ip then fails, which is fine)
  def flush(ns), do: System.cmd("ip", ~w(-n #{ns} route flush table 100), stderr_to_stdout: true)

  def check!(what, got, want),
    do: got == want || raise("#{what}: #{got} routes in table 100, expected #{want}")

  def best(list), do: list |> Enum.reject(&is_nil/1) |> Enum.min(fn -> nil end)

  # The floor script: next to the repository (../shared/floors), or in a parent of it.
  def floor_script do
    [System.get_env("LINX_FLOORS_DIR") | parents(File.cwd!())]
    |> Enum.reject(&is_nil/1)
    |> Enum.map(&Path.join(&1, "routes_floor.py"))
    |> Enum.find(&File.exists?/1)
  end

  defp parents(dir) do
    up = Path.dirname(dir)
    here = Path.join([up, "shared", "floors"])
    if up == dir, do: [], else: [here | parents(up)]
  end

  @pyroute2 """
  import sys, time, json
  from pyroute2 import IPRoute
  n = int(sys.argv[1])
  dsts = ['10.%d.%d.%d' % (1 + i // 65536, (i // 256) % 256, i % 256) for i in range(n)]
  with IPRoute() as ipr:
      idx = ipr.link_lookup(ifname='v0')[0]
      t0 = time.perf_counter()
      for d in dsts:
          ipr.route('add', dst=d, dst_len=32, oif=idx, table=100)
      t_add = time.perf_counter() - t0
      t0 = time.perf_counter()
      count = sum(1 for _ in ipr.get_routes(table=100))
      t_dump = time.perf_counter() - t0
      t0 = time.perf_counter()
      for d in dsts:
          ipr.route('del', dst=d, dst_len=32, oif=idx, table=100)
      t_del = time.perf_counter() - t0
  print(json.dumps({"add": t_add, "dump": t_dump, "count": count, "delete": t_del}))
  """

  def pyroute2_script, do: @pyroute2

  # The venv's python with pyroute2, installing it on first use; nil (with the reason
  # printed) when PyPI or venv are unavailable.
  def pyroute2_python do
    venv = Path.expand("~/.cache/linx/pyroute2-venv")
    python = Path.join(venv, "bin/python")

    installed? = fn ->
      File.exists?(python) and
        match?({_, 0}, System.cmd(python, ["-c", "import pyroute2"], stderr_to_stdout: true))
    end

    cond do
      installed?.() ->
        python

      System.find_executable("python3") == nil ->
        IO.puts("pyroute2: skipped (no python3)")
        nil

      true ->
        IO.puts("pyroute2: installing from PyPI into #{venv} ...")
        File.mkdir_p!(Path.dirname(venv))

        with {_, 0} <- System.cmd("python3", ["-m", "venv", venv], stderr_to_stdout: true),
             {_, 0} <-
               System.cmd(Path.join(venv, "bin/pip"), ~w(install --quiet pyroute2),
                 stderr_to_stdout: true
               ),
             true <- installed?.() do
          python
        else
          {out, _} ->
            IO.puts("pyroute2: skipped, could not install it (PyPI unreachable?):\n#{out}")
            nil

          false ->
            IO.puts("pyroute2: skipped, installed but not importable")
            nil
        end
    end
  end
end

alias Bench.Routes, as: B

{opts, args, _} =
  OptionParser.parse(System.argv(), strict: [runs: :integer, pyroute2_runs: :integer])

n =
  case args do
    [arg | _] -> String.to_integer(arg)
    [] -> 100_000
  end

runs = Keyword.get(opts, :runs, 3)
py_runs = Keyword.get(opts, :pyroute2_runs, 1)
ns = "linx-bench-#{System.pid()}"

routes = for i <- 0..(n - 1), do: {IP.parse!(B.dst(i)), 32, nil}
batch_add = Path.join(System.tmp_dir!(), "#{ns}-add.batch")
batch_del = Path.join(System.tmp_dir!(), "#{ns}-del.batch")
py_file = Path.join(System.tmp_dir!(), "#{ns}-pyroute2.py")
File.write!(batch_add, Enum.map(0..(n - 1), &"route add #{B.dst(&1)}/32 dev v0 table 100\n"))
File.write!(batch_del, Enum.map(0..(n - 1), &"route del #{B.dst(&1)}/32 dev v0 table 100\n"))
File.write!(py_file, B.pyroute2_script())

python = B.pyroute2_python()
floor = B.floor_script()

if floor == nil,
  do: IO.puts("floor: skipped (../shared/floors/routes_floor.py not found; set LINX_FLOORS_DIR)")

B.sh!("ip netns add #{ns}")

try do
  B.ip!(ns, "link set lo up")
  B.ip!(ns, "link add v0 type veth peer name v1")
  B.ip!(ns, "link set v0 up")
  B.ip!(ns, "link set v1 up")
  {:ok, sock} = Rtnl.open({:path, "/run/netns/#{ns}"})

  IO.puts("N = #{n} routes; best of #{runs} runs (pyroute2: #{py_runs}); netns #{ns}\n")

  results =
    for run <- 1..runs, reduce: %{} do
      acc ->
        # Linx
        B.flush(ns)
        {t_add, :ok} = B.timed(fn -> Route.add_many(sock, routes, dev: "v0", table: 100) end)
        B.check!("Linx add", B.count(sock), n)
        {t_list, {:ok, listed}} = B.timed(fn -> Route.list(sock, table: 100) end)
        B.check!("Linx list", length(listed), n)
        :erlang.garbage_collect()

        {t_fold, {:ok, folded}} =
          B.timed(fn -> Route.fold(sock, 0, fn _, k -> k + 1 end, table: 100) end)

        B.check!("Linx fold", folded, n)
        {t_del, :ok} = B.timed(fn -> Route.delete_many(sock, routes, dev: "v0", table: 100) end)
        B.check!("Linx delete", B.count(sock), 0)

        # iproute2
        B.flush(ns)
        {i_add, _} = B.timed(fn -> B.ip!(ns, "-batch #{batch_add}") end)
        B.check!("ip add", B.count(sock), n)
        {i_dump, _} = B.timed(fn -> B.sh!("ip -n #{ns} -j route show table 100 > /dev/null") end)
        {i_del, _} = B.timed(fn -> B.ip!(ns, "-batch #{batch_del}") end)
        B.check!("ip delete", B.count(sock), 0)

        # pyroute2 (slow: its own number of runs)
        py =
          if python && run <= py_runs do
            B.flush(ns)
            out = B.sh!("ip netns exec #{ns} #{python} #{py_file} #{n}")

            {:ok, %{"add" => a, "dump" => d, "delete" => x, "count" => c}} =
              out
              |> String.split("\n", trim: true)
              |> List.last()
              |> Linx.NativeBuild.JSON.decode()

            B.check!("pyroute2 dump", c, n)
            B.check!("pyroute2 delete", B.count(sock), 0)
            %{add: a, dump: d, delete: x}
          end

        # the floor
        fl =
          if floor do
            B.flush(ns)
            out = B.sh!("ip netns exec #{ns} python3 #{floor} #{n}")
            [_, a, errors, d] = Regex.run(~r/add_s=([\d.]+) errors=(\d+) dump_s=([\d.]+)/, out)
            "0" = errors
            # its final, acknowledged request adds one more route
            B.check!("floor add", B.count(sock), n + 1)
            B.flush(ns)
            %{add: String.to_float(a), dump: String.to_float(d)}
          end

        IO.puts(
          "run #{run}: Linx add #{Float.round(t_add, 3)} list #{Float.round(t_list, 3)} " <>
            "fold #{Float.round(t_fold, 3)} delete #{Float.round(t_del, 3)} | ip add #{Float.round(i_add, 3)} " <>
            "dump #{Float.round(i_dump, 3)} delete #{Float.round(i_del, 3)}" <>
            if(py,
              do:
                " | pyroute2 add #{Float.round(py.add, 2)} dump #{Float.round(py.dump, 2)} delete #{Float.round(py.delete, 2)}",
              else: ""
            ) <>
            if(fl, do: " | floor add #{fl.add} dump #{fl.dump}", else: "")
        )

        push = fn acc, key, v -> Map.update(acc, key, [v], &[v | &1]) end

        acc
        |> push.(:linx_add, t_add)
        |> push.(:linx_list, t_list)
        |> push.(:linx_fold, t_fold)
        |> push.(:linx_del, t_del)
        |> push.(:ip_add, i_add)
        |> push.(:ip_dump, i_dump)
        |> push.(:ip_del, i_del)
        |> push.(:py_add, py && py.add)
        |> push.(:py_dump, py && py.dump)
        |> push.(:py_del, py && py.delete)
        |> push.(:floor_add, fl && fl.add)
        |> push.(:floor_dump, fl && fl.dump)
    end

  Socket.close(sock)
  b = Map.new(results, fn {k, v} -> {k, B.best(v)} end)

  fmt = fn
    nil -> "      -"
    s -> :io_lib.format("~7.3f", [s]) |> to_string()
  end

  ratio = fn
    _a, nil -> "    -"
    nil, _b -> "    -"
    a, b -> :io_lib.format("~5.2f", [a / b]) |> to_string()
  end

  IO.puts("""

  seconds (best)          add   dump+decode      delete
  Linx              #{fmt.(b.linx_add)}   #{fmt.(b.linx_fold)} fold  #{fmt.(b.linx_del)}
                                #{fmt.(b.linx_list)} list
  iproute2          #{fmt.(b.ip_add)}   #{fmt.(b.ip_dump)}       #{fmt.(b.ip_del)}
  pyroute2          #{fmt.(b.py_add)}   #{fmt.(b.py_dump)}       #{fmt.(b.py_del)}
  floor             #{fmt.(b.floor_add)}   #{fmt.(b.floor_dump)} (no decode)

  ratios                  add   dump (fold / list)   delete
  Linx/iproute2       #{ratio.(b.linx_add, b.ip_add)}   #{ratio.(b.linx_fold, b.ip_dump)} / #{ratio.(b.linx_list, b.ip_dump)}     #{ratio.(b.linx_del, b.ip_del)}
  Linx/pyroute2       #{ratio.(b.linx_add, b.py_add)}   #{ratio.(b.linx_fold, b.py_dump)} / #{ratio.(b.linx_list, b.py_dump)}     #{ratio.(b.linx_del, b.py_del)}
  Linx/floor          #{ratio.(b.linx_add, b.floor_add)}   #{ratio.(b.linx_fold, b.floor_dump)} / #{ratio.(b.linx_list, b.floor_dump)}
  """)
after
  System.cmd("ip", ["netns", "delete", ns], stderr_to_stdout: true)
  Enum.each([batch_add, batch_del, py_file], &File.rm/1)
end
