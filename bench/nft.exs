# nf_tables benchmark: Linx against the nft CLI, same rulesets, same run.
#
#   mix run bench/nft.exs            (as root; LINX_BENCH_RUNS=5 for more runs)
#
# In a private network namespace (created here, deleted at the end; the host's
# ruleset is never touched):
#   (a) one table with a 100,000-element ipv4_addr set, pushed in one transaction;
#   (b) one table with 10,000 rules in one chain, pushed in one transaction;
#   (c) pull + decode of the result of (a) and (b) together.
# Linx: Linx.Netfilter.push/3 and pull/2. nft: `nft -f FILE` with the same ruleset
# (checked equal by listing both), and `nft -j list ruleset`. Each figure is the
# median of the runs; the table is deleted (untimed) before each push. For nft,
# /usr/bin/time gives the child's user and kernel (sys) time; for Linx the BEAM's own
# utime/stime are read from /proc/self/stat around the call, and the push is also
# split into its phases (validate, encode, send + kernel commit + ack).

defmodule Bench.Nft do
  @clk_tck 100

  def runs, do: String.to_integer(System.get_env("LINX_BENCH_RUNS", "3"))

  def sh!(cmd, args) do
    case System.cmd(cmd, args, stderr_to_stdout: true) do
      {out, 0} -> out
      {out, n} -> raise "#{cmd} #{Enum.join(args, " ")} exited #{n}: #{out}"
    end
  end

  def nft!(ns, args), do: sh!("ip", ["netns", "exec", ns, "nft" | args])

  # {wall_s, user_s, sys_s} of `nft args` in the netns, from /usr/bin/time.
  def timed_nft!(ns, args) do
    out =
      sh!("/usr/bin/time", ["-f", "TIME %e %U %S", "ip", "netns", "exec", ns, "nft" | args])

    [_, e, u, s] = Regex.run(~r/TIME ([\d.]+) ([\d.]+) ([\d.]+)/, out)
    {String.to_float(e), String.to_float(u), String.to_float(s)}
  end

  # {wall_s, user_s, sys_s, result} of fun in this BEAM (user/sys of the whole OS
  # process, 10 ms resolution).
  # Runs fun in a new process (the caller's large heap would otherwise make every
  # garbage collection in the measured code slower; each nft run is a new process too).
  # Not linked: a failing sample raises here, so the namespace is still deleted.
  def fresh(fun) do
    {pid, ref} = spawn_monitor(fn -> exit({:ok, fun.()}) end)

    receive do
      {:DOWN, ^ref, :process, ^pid, {:ok, result}} -> result
      {:DOWN, ^ref, :process, ^pid, reason} -> raise "bench sample failed: #{inspect(reason)}"
    end
  end

  def timed(fun) do
    {u0, s0} = cpu()
    t0 = System.monotonic_time(:microsecond)
    result = fun.()
    t1 = System.monotonic_time(:microsecond)
    {u1, s1} = cpu()
    {(t1 - t0) / 1.0e6, (u1 - u0) / @clk_tck, (s1 - s0) / @clk_tck, result}
  end

  defp cpu do
    stat = File.read!("/proc/self/stat")
    # Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
    [_, rest] = String.split(stat, ") ", parts: 2)
    f = String.split(rest, " ")
    {String.to_integer(Enum.at(f, 11)), String.to_integer(Enum.at(f, 12))}
  end

  def median(list) do
    sorted = Enum.sort(list)
    Enum.at(sorted, div(length(sorted), 2))
  end

  def med(samples, i), do: median(Enum.map(samples, &elem(&1, i)))

  def ms(s), do: :erlang.float_to_binary(s * 1000, decimals: 1) <> " ms"
  def ratio(a, b), do: :erlang.float_to_binary(a / b, decimals: 2) <> "x"

  def ip(n), do: "10.#{div(n, 65536)}.#{rem(div(n, 256), 256)}.#{rem(n, 256)}"
end

defmodule Bench.NftMain do
  import Bench.Nft

  alias Linx.Netfilter
  alias Linx.Netfilter.{Codec, Expr, Native, Ruleset}
  alias Linx.Netfilter.Set, as: NSet
  alias Linx.Netlink.{Nfnl, Request, Socket}

  def run do
    elements = 100_000
    rule_count = 10_000
    ns = "linx-bench-#{System.pid()}"
    sh!("ip", ["netns", "add", ns])

    try do
      {:ok, sock} = Nfnl.open({:path, "/run/netns/#{ns}"})

      # -- the rulesets, as Linx values and as nft files ----------------------------------
      addrs = Enum.map(1..elements, &Linx.IP.parse!(ip(&1)))

      set_rs =
        Ruleset.new()
        |> Ruleset.add_table!(:ip, "bset")
        |> Ruleset.add_set!("bset", NSet.new!("s", key_type: :ipv4_addr, elements: addrs))

      set_file = Path.join(System.tmp_dir!(), "linx-bench-set-#{System.pid()}.nft")

      File.write!(set_file, [
        "table ip bset {\n  set s {\n    type ipv4_addr\n    elements = { ",
        Enum.map_intersperse(1..elements, ", ", &ip/1),
        " }\n  }\n}\n"
      ])

      rules_rs =
        Enum.reduce(
          1..rule_count,
          Ruleset.new()
          |> Ruleset.add_table!(:ip, "brules")
          |> Ruleset.add_chain!("brules", "c", type: :filter, hook: :forward, priority: 0),
          fn i, rs ->
            Ruleset.add_rule!(
              rs,
              "brules",
              "c",
              Expr.match(:ip_daddr, ip(i)) ++
                Expr.match(:meta_l4proto, :tcp) ++ Expr.match(:tcp_dport, 80) ++ [:accept]
            )
          end
        )

      rules_file = Path.join(System.tmp_dir!(), "linx-bench-rules-#{System.pid()}.nft")

      File.write!(rules_file, [
        "table ip brules {\n  chain c {\n    type filter hook forward priority 0; policy accept;\n",
        Enum.map(1..rule_count, fn i ->
          "    ip daddr #{ip(i)} meta l4proto tcp tcp dport 80 accept\n"
        end),
        "  }\n}\n"
      ])

      delete = fn table -> nft!(ns, ["delete", "table", "ip", table]) end

      # After a bulk insert the kernel grows the set's hash table in the background; a
      # dump that runs meanwhile can skip some elements and repeat others (nft's listing
      # and Linx's pull alike), so reads wait for it.
      settle = fn -> Process.sleep(1_000) end

      # Both tools must build the same thing: compare nft's listings.
      for {rs, file, table} <- [{set_rs, set_file, "bset"}, {rules_rs, rules_file, "brules"}] do
        :ok = Netfilter.push(sock, rs)
        settle.()
        by_linx = nft!(ns, ["list", "table", "ip", table])
        delete.(table)
        nft!(ns, ["-f", file])
        settle.()
        by_nft = nft!(ns, ["list", "table", "ip", table])
        delete.(table)
        # Set elements are listed in the kernel's hash order, which depends on the
        # insertion history: compare the listings as sorted words.
        words = fn text ->
          text |> String.split([" ", ",", "\n", "\t"], trim: true) |> Enum.sort()
        end

        words.(by_linx) == words.(by_nft) or
          raise "#{table}: Linx and nft built different tables: #{inspect(List.myers_difference(words.(by_linx), words.(by_nft)) |> Enum.reject(&(elem(&1, 0) == :eq)), limit: 20)}"
      end

      IO.puts("""
      nf_tables bench: #{runs()} runs each, medians; netns #{ns}; #{System.schedulers_online()} schedulers
      (a) #{elements}-element ipv4 set, (b) #{rule_count} rules in one chain, (c) pull of both
      """)

      # Phases of a push, the same steps Linx.Netfilter.push/3 takes.
      phases = fn rs ->
        {tv, _, _, :ok} = timed(fn -> Netfilter.validate(rs, :push) end)

        {tt, _, _, mutations} =
          timed(fn ->
            {items, _} =
              rs
              |> Ruleset.tables()
              |> Enum.flat_map_reduce(Codec.new_ctx(), fn {_, _, t}, ctx ->
                Codec.table_items(t, :replace, ctx)
              end)

            items |> Enum.unzip() |> elem(0)
          end)

        first = Nfnl.peek(sock)

        {te, _, _, {:ok, bin, index}} =
          timed(fn -> Native.encode_batch(mutations, first, nil) end)

        :ok = Nfnl.advance(sock, length(index) + 2)
        {ts, _, sys, :ok} = timed(fn -> Nfnl.transact(sock, bin, first, length(index)) end)
        {tv, tt, te, ts, sys, byte_size(bin), length(index)}
      end

      bench_push = fn label, rs, file, table ->
        linx =
          for _ <- 1..runs() do
            {w, u, s, :ok} = fresh(fn -> timed(fn -> Netfilter.push(sock, rs) end) end)
            delete.(table)
            {w, u, s}
          end

        nft =
          for _ <- 1..runs() do
            r = timed_nft!(ns, ["-f", file])
            delete.(table)
            r
          end

        split =
          for _ <- 1..runs() do
            r = fresh(fn -> phases.(rs) end)
            delete.(table)
            r
          end

        {lw, nw} = {med(linx, 0), med(nft, 0)}

        IO.puts("""
        #{label}
          Linx push      #{ms(lw)}  (BEAM user #{ms(med(linx, 1))}, sys #{ms(med(linx, 2))})
          nft -f         #{ms(nw)}  (user #{ms(med(nft, 1))}, sys #{ms(med(nft, 2))})
          ratio Linx/nft #{ratio(lw, nw)}
          Linx phases    validate #{ms(med(split, 0))}, structs->terms #{ms(med(split, 1))}, NIF encode #{ms(med(split, 2))}, send+commit+ack #{ms(med(split, 3))} (BEAM sys #{ms(med(split, 4))})
                         batch #{div(elem(hd(split), 5), 1024)} KiB in #{elem(hd(split), 6)} messages
        """)

        {lw, nw, med(nft, 2), med(split, 3)}
      end

      {a_linx, a_nft, a_sys, a_kernel} =
        bench_push.("(a) set, #{elements} elements", set_rs, set_file, "bset")

      {b_linx, b_nft, b_sys, b_kernel} =
        bench_push.("(b) chain, #{rule_count} rules", rules_rs, rules_file, "brules")

      # (c) both tables present
      :ok = Netfilter.push(sock, set_rs)
      :ok = Netfilter.push(sock, rules_rs)
      settle.()

      pulls =
        for _ <- 1..runs() do
          {w, u, s, 2} =
            fresh(fn ->
              {w, u, s, {:ok, rs}} = timed(fn -> Netfilter.pull(sock) end)
              set = rs.tables[{:ip, "bset"}].sets["s"]
              chain = rs.tables[{:ip, "brules"}].chains["c"]
              ^elements = length(set.elements)
              ^rule_count = length(chain.rules)
              {w, u, s, map_size(rs.tables)}
            end)

          {w, u, s}
        end

      # The pull's phases, as Linx.Netfilter.pull/2 runs them (less its two GETGENs).
      dump = fn mutation ->
        {:ok, [{type, flags, payload}]} = Native.encode_messages(mutation)
        {:ok, raw} = Request.fold(sock, type, flags, payload, [], &[&1 | &2], [])
        Enum.reverse(raw)
      end

      pull_split =
        for _ <- 1..runs() do
          fresh(fn ->
            {td, _, sd, raw} =
              timed(fn ->
                base =
                  for op <- [
                        :get_table,
                        :get_chain,
                        :get_rule,
                        :get_set,
                        :get_obj,
                        :get_flowtable
                      ],
                      do: dump.({op, :unspec, %{nlm_flags: [:dump]}})

                elems = dump.({:get_setelem, :ip, %{table: "bset", set: "s", nlm_flags: [:dump]}})
                List.flatten(base) ++ elems
              end)

            {tn, _, _, decoded} =
              timed(fn -> Native.decode_many(Enum.map(raw, &{&1.type, &1.payload})) end)

            msgs = for {:ok, m} <- decoded, do: m
            {tb, _, _, _} = timed(fn -> Codec.from_dump(msgs) end)
            {td, sd, tn, tb}
          end)
        end

      json = for _ <- 1..runs(), do: timed_nft!(ns, ["-j", "list", "ruleset"])
      text = for _ <- 1..runs(), do: timed_nft!(ns, ["list", "ruleset"])
      {c_linx, c_nft} = {med(pulls, 0), med(json, 0)}

      IO.puts("""
      (c) pull + decode (#{elements} elements + #{rule_count} rules)
        Linx pull         #{ms(c_linx)}  (BEAM user #{ms(med(pulls, 1))}, sys #{ms(med(pulls, 2))})
        nft -j list       #{ms(c_nft)}  (user #{ms(med(json, 1))}, sys #{ms(med(json, 2))})
        Linx phases       dumps #{ms(med(pull_split, 0))} (BEAM sys #{ms(med(pull_split, 1))}), NIF decode #{ms(med(pull_split, 2))}, terms->structs #{ms(med(pull_split, 3))}
        nft list (text)   #{ms(med(text, 0))}
        ratio Linx/nft -j #{ratio(c_linx, c_nft)}
      """)

      IO.puts("""
      summary (target <= 0.50x nft on each)
        (a) set push   #{ratio(a_linx, a_nft)}
        (b) rules push #{ratio(b_linx, b_nft)}
        (c) pull       #{ratio(c_linx, c_nft)}
      floor (../shared/floors/README.md: "nft -f spends about half its time in the kernel"):
        the kernel's own part, which every client waits for, measured in this run:
        (a) the transaction of the already-encoded batch (one sendmsg, commit, ack) #{ms(a_kernel)} = #{ratio(a_kernel, a_nft)} nft
            (nft -f's own kernel time: #{ms(a_sys)} of #{ms(a_nft)} = #{ratio(a_sys, a_nft)})
        (b) the same for the rules batch #{ms(b_kernel)} = #{ratio(b_kernel, b_nft)} nft
            (nft -f's own kernel time: #{ms(b_sys)} of #{ms(b_nft)} = #{ratio(b_sys, b_nft)})
        (c) the dumps received, nothing decoded #{ms(med(pull_split, 0))} = #{ratio(med(pull_split, 0), c_nft)} nft
        A floor ratio above 0.50x means that no client, however fast its own code, meets 0.50x there.
      """)

      :ok = Socket.close(sock)
      File.rm(set_file)
      File.rm(rules_file)
    after
      System.cmd("ip", ["netns", "delete", ns])
    end
  end
end

Bench.NftMain.run()
